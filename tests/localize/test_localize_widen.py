"""Widening a trained localizer to a feature list that gained features."""

from __future__ import annotations

import pytest
import torch

from rca_service.errors import ModelError
from rca_service.localize.gnn import GNNConfig, RootCauseGNN, build_gnn
from rca_service.localize.widen import widen_state

OLD_NODES = ["lat", "err", "cpu"]
NEW_NODES = ["lat", "gap.in", "err", "cpu", "gap.out"]  # added features may sit anywhere
OLD_EDGES = ["calls", "reverse"]
NEW_EDGES = ["calls", "gap.ratio", "reverse"]


def _graph(nodes: int, node_cols: int, edge_cols: int, gen: torch.Generator):
    x = torch.randn(nodes, node_cols, generator=gen)
    edge_index = torch.tensor([[0, 1, 1, 2, 0, 3], [1, 0, 2, 1, 3, 0]])
    edge_attr = torch.randn(edge_index.shape[1], edge_cols, generator=gen)
    return x, edge_index, edge_attr, torch.zeros(nodes, dtype=torch.long)


@pytest.mark.parametrize("members", [1, 3])
def test_widened_model_scores_as_before_whatever_the_new_features_say(members: int):
    torch.manual_seed(0)
    old = build_gnn(GNNConfig(len(OLD_NODES), len(OLD_EDGES), hidden=8, heads=2, members=members)).eval()
    new = build_gnn(GNNConfig(len(NEW_NODES), len(NEW_EDGES), hidden=8, heads=2, members=members)).eval()
    new.load_state_dict(widen_state(old.state_dict(), 8, (OLD_NODES, NEW_NODES), (OLD_EDGES, NEW_EDGES))[0])
    gen = torch.Generator().manual_seed(1)
    x, ei, ea, batch = _graph(4, len(NEW_NODES), len(NEW_EDGES), gen)
    keep_n = [NEW_NODES.index(f) for f in OLD_NODES]
    keep_e = [NEW_EDGES.index(f) for f in OLD_EDGES]
    with torch.no_grad():
        s_old, k_old = old(x[:, keep_n], ei, ea[:, keep_e], batch)
        s_new, k_new = new(x, ei, ea, batch)
        x2 = x.clone()
        x2[:, [1, 4]] = 50.0  # loud new features change nothing until fine-tuning
        s_loud, _ = new(x2, ei, ea, batch)
    assert torch.allclose(s_old, s_new, atol=1e-5) and torch.allclose(k_old, k_new, atol=1e-5)
    assert torch.allclose(s_new, s_loud, atol=1e-5)
    # and the new inputs are trainable: their weights exist and start at zero
    for single in new.members if members > 1 else [new]:
        assert torch.count_nonzero(single.encoder[0].weight[:, [1, 4]]) == 0


def test_widening_refuses_a_removed_feature_or_a_foreign_state():
    model = RootCauseGNN(GNNConfig(len(OLD_NODES), len(OLD_EDGES), hidden=8, heads=2))
    with pytest.raises(ModelError, match="gone"):
        widen_state(model.state_dict(), 8, (OLD_NODES, ["lat", "err"]), (OLD_EDGES, NEW_EDGES))
    with pytest.raises(ModelError, match="node features"):
        widen_state(model.state_dict(), 16, (OLD_NODES, NEW_NODES), (OLD_EDGES, NEW_EDGES))


def test_a_shipped_version_on_fewer_features_loads_widened_and_ranks_as_before():
    from pathlib import Path

    import numpy as np

    from rca_service.localize.artifacts import load_artifacts
    from rca_service.localize.graph import EDGE_FEATURES, NODE_FEATURES, IncidentGraphBuilder
    from rca_service.localize.train import synthetic_graphs
    from rca_service.localize.trainer import graph_logits

    models = Path(__file__).resolve().parents[2] / "models"
    with pytest.raises(ModelError, match="other features"):
        load_artifacts(models, "v2", widen=False)
    v2 = load_artifacts(models, "v2")
    assert (v2.model.config.in_features, v2.model.config.edge_features) == (len(NODE_FEATURES), len(EDGE_FEATURES))
    assert set(v2.widened_features) == {"gap.in", "gap.out", "gap.after", "gap.ratio", "fanout.fall", "fanout.rise",
                                        "fanout.ratio", "held.peak", "held.rel", "ends.in", "ends.out", "ends.rise"}
    graph = synthetic_graphs(1, 7, IncidentGraphBuilder(v2.graph_config))[0].graph
    added = [i for i, f in enumerate(NODE_FEATURES) if f.startswith(("gap.", "fanout.", "held.", "ends."))]
    before = np.asarray(graph_logits(v2.model, graph)[0])
    graph.x[:, added] = 9.0
    assert np.allclose(before, graph_logits(v2.model, graph)[0], atol=1e-5)
