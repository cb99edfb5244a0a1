"""RootCauseGNN: output shapes on tiny graphs, parameters reset, config validation."""

from __future__ import annotations

import pytest
import torch

from rca_service.errors import ConfigError
from rca_service.localize.gnn import KIND_CLASSES, GNNConfig, RootCauseEnsemble, RootCauseGNN, build_gnn


def _graph(n: int, e: int, f: int = 6, d: int = 3):
    x = torch.randn(n, f)
    edge_index = torch.randint(0, n, (2, e))
    return x, edge_index, torch.randn(e, d)


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_shapes_on_two_graphs(layers: int) -> None:
    model = RootCauseGNN(GNNConfig(in_features=6, edge_features=3, hidden=8, layers=layers, heads=2))
    x1, e1, a1 = _graph(3, 4)
    x2, e2, a2 = _graph(5, 6)
    x = torch.cat([x1, x2])
    edge_index = torch.cat([e1, e2 + 3], dim=1)
    batch = torch.tensor([0] * 3 + [1] * 5)
    scores, kinds = model(x, edge_index, torch.cat([a1, a2]), batch)
    assert scores.shape == (8,)
    assert kinds.shape == (8, len(KIND_CLASSES))
    assert torch.isfinite(scores).all()


def test_graph_without_edges_and_single_node() -> None:
    model = RootCauseGNN(GNNConfig(in_features=6, edge_features=3, hidden=8))
    scores, kinds = model(torch.randn(1, 6), torch.zeros((2, 0), dtype=torch.long), torch.zeros((0, 3)), torch.zeros(1, dtype=torch.long))
    assert scores.shape == (1,) and kinds.shape == (1, len(KIND_CLASSES))


def test_score_depends_on_the_rest_of_the_graph() -> None:
    torch.manual_seed(0)
    model = RootCauseGNN(GNNConfig(in_features=6, edge_features=3, hidden=8, layers=1)).eval()
    x, e, a = _graph(4, 5)
    batch = torch.zeros(4, dtype=torch.long)
    before, _ = model(x, e, a, batch)
    x2 = x.clone()
    x2[3] += 5.0
    after, _ = model(x2, e, a, batch)
    assert not torch.allclose(before[:3], after[:3])


def test_reset_parameters_changes_weights_and_repr_names_sizes() -> None:
    model = RootCauseGNN(GNNConfig(in_features=6, edge_features=3, hidden=8))
    w = model.encoder[0].weight.detach().clone()
    model.reset_parameters()
    assert not torch.equal(w, model.encoder[0].weight)
    assert "hidden=8" in repr(model)


def test_config_rejects_bad_values_and_unknown_keys() -> None:
    with pytest.raises(ConfigError):
        GNNConfig(in_features=0, edge_features=3)
    with pytest.raises(ConfigError):
        GNNConfig(in_features=4, edge_features=3, dropout=1.5)
    with pytest.raises(ConfigError):
        GNNConfig.from_dict({"in_features": 4, "edge_features": 3, "width": 9})


def test_an_ensemble_outputs_the_mean_of_its_members() -> None:
    torch.manual_seed(0)
    model = build_gnn(GNNConfig(in_features=6, edge_features=3, hidden=8, layers=1, members=3)).eval()
    assert isinstance(model, RootCauseEnsemble) and len(model.members) == 3
    assert isinstance(build_gnn(GNNConfig(in_features=6, edge_features=3, hidden=8)), RootCauseGNN)
    x, e, a = _graph(4, 5)
    batch = torch.zeros(4, dtype=torch.long)
    scores, kinds = model(x, e, a, batch)
    each = [member(x, e, a, batch) for member in model.members]
    assert not torch.allclose(each[0][0], each[1][0])  # members start apart
    assert torch.allclose(scores, torch.stack([s for s, _ in each]).mean(dim=0))
    assert torch.allclose(kinds, torch.stack([k for _, k in each]).mean(dim=0))
    assert "3 x RootCauseGNN" in repr(model)
    with pytest.raises(ConfigError):
        GNNConfig(in_features=6, edge_features=3, members=0)
