"""Training beats chance on held-out synthetic incidents; calibration and artifacts behave."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from rca_service.errors import ConfigError, ModelError
from rca_service.localize.calibration import Calibration, expected_calibration_error, fit_temperature, softmax
from rca_service.localize.gnn import GNNConfig, RootCauseGNN
from rca_service.localize.graph import EDGE_FEATURES, NODE_FEATURES, GraphConfig, IncidentGraphBuilder
from rca_service.localize.ranker import load_localizer
from rca_service.localize.synthetic import SyntheticConfig, SyntheticIncidents
from rca_service.localize.train import kind_of_fault, synthetic_graphs
from rca_service.localize.trainer import TrainConfig, fit, top_k_accuracy

SMALL = SyntheticConfig(min_services=4, max_services=10, steps=((60, 30, 5),))


def test_training_beats_chance_on_heldout_incidents() -> None:
    torch.manual_seed(0)
    builder = IncidentGraphBuilder(GraphConfig(history_seconds=1800))
    train = synthetic_graphs(60, 1, builder, SMALL)
    test = synthetic_graphs(30, 2, builder, SMALL)
    chance = float(np.mean([1.0 / g.graph.num_nodes for g in test]))
    model = RootCauseGNN(GNNConfig(len(NODE_FEATURES), len(EDGE_FEATURES), hidden=16, layers=1, heads=1))
    untrained = top_k_accuracy(model, test, 1)
    losses = fit(model, train, TrainConfig(epochs=15, batch_size=16, seed=0))
    acc = top_k_accuracy(model, test, 1)
    assert losses[-1] < losses[0]
    assert acc > 2 * chance
    assert acc >= untrained


def test_synthetic_cases_are_reproducible_and_labelled() -> None:
    a = SyntheticIncidents(SMALL, seed=5).case()
    b = SyntheticIncidents(SMALL, seed=5).case()
    assert (a.root, a.fault) == (b.root, b.fault)
    assert a.root in a.store.services()
    assert a.incident.start >= a.store.times[0]


def test_temperature_scaling_lowers_overconfidence() -> None:
    rng = np.random.default_rng(0)
    logits, targets = [], []
    for _ in range(200):  # overconfident: huge margins, right only half the time
        lg = rng.normal(size=5) * 10
        logits.append(lg)
        targets.append(int(np.argmax(lg)) if rng.random() < 0.5 else int(np.argmin(lg)))
    t = fit_temperature(logits, targets)
    assert t > 1.5
    cal = Calibration.fit(logits, targets)
    assert cal.ece_after < cal.ece_before


def test_confidences_lie_in_unit_interval_and_flat_graph_is_inconclusive() -> None:
    cal = Calibration(temperature=2.0, min_confidence=0.3, min_deviation=4.0)
    conf = cal.confidences(np.array([3.0, 1.0, -2.0]))
    assert np.all((conf >= 0) & (conf <= 1)) and conf.sum() == pytest.approx(1.0)
    assert cal.inconclusive(conf, max_deviation=1.0)  # nothing moved
    assert not cal.inconclusive(conf, max_deviation=20.0)
    assert cal.inconclusive(cal.confidences(np.zeros(6)), max_deviation=20.0)  # no node stands out
    with pytest.raises(ConfigError):
        Calibration(temperature=0)


def test_ece_of_perfectly_calibrated_predictions_is_small() -> None:
    rng = np.random.default_rng(1)
    conf = rng.uniform(0, 1, 5000)
    hit = rng.uniform(0, 1, 5000) < conf
    assert expected_calibration_error(conf, hit) < 0.05
    assert softmax(np.array([0.0, 0.0])).tolist() == [0.5, 0.5]


def test_artifacts_verify_sha256_and_refuse_tampering(tiny_models_dir, tmp_path) -> None:
    loc = load_localizer(tiny_models_dir, "latest")
    hashes = loc.artifact_hashes()
    assert set(hashes) == {"config.json", "weights.pt", "calibration.json", "card.md"}
    assert hashes["weights.pt"] in (tiny_models_dir / "localizer" / "t1" / "card.md").read_text()
    copy = tmp_path / "models"
    shutil.copytree(tiny_models_dir, copy)
    cal = copy / "localizer" / "t1" / "calibration.json"
    d = json.loads(cal.read_text())
    d["temperature"] = 0.01
    cal.write_text(json.dumps(d))
    with pytest.raises(ModelError, match="sha256"):
        load_localizer(copy, "t1")
    with pytest.raises(ModelError):
        load_localizer(tmp_path / "nothing", "latest")


def test_fault_names_map_to_kinds() -> None:
    assert kind_of_fault("cpu_contention") == "resource"
    assert kind_of_fault("mem") == "resource"
    assert kind_of_fault("network_delay") == "network"
    assert kind_of_fault("exception") == "code_error"
    assert kind_of_fault("return") == "code_error"


def test_confidence_is_calibrated_on_the_extra_held_out_cases_too(tmp_path) -> None:
    from rca_service.localize.artifacts import load_artifacts
    from rca_service.localize.train import train_localizer
    from rca_service.localize.trainer import LabelledGraph

    builder = IncidentGraphBuilder(GraphConfig())
    # cases from "another system" the model gets wrong: labels moved off the true root
    hard = [LabelledGraph(g.graph, (g.target + 1) % g.graph.num_nodes, g.kind, f"hard-{i}")
            for i, g in enumerate(synthetic_graphs(12, 77, builder, SMALL))]
    gnn = {"hidden": 8, "layers": 1, "heads": 1}
    plain = train_localizer(tmp_path, "plain", n_train=24, n_heldout=12, epochs=2, gnn=gnn)
    mixed = train_localizer(tmp_path, "mixed", n_train=24, n_heldout=12, epochs=2, gnn=gnn, calibration_extra=hard)
    assert plain["heldout_from_folder"] == 0 and mixed["heldout_from_folder"] == 12
    assert mixed["heldout_cases"] == 24
    art = load_artifacts(tmp_path, "mixed")
    assert art.calibration.heldout_cases == 24
    assert "12 of them labelled cases from the calibration folder" in (art.path / "card.md").read_text()
    # the same weights (same seed), but cases it gets wrong make it less sure of itself
    assert mixed["temperature"] > plain["temperature"]


def test_an_ensemble_trains_each_member_with_its_own_seed_and_round_trips(tmp_path) -> None:
    from rca_service.localize.artifacts import load_artifacts
    from rca_service.localize.train import train_localizer

    gnn = {"hidden": 8, "layers": 1, "heads": 1, "members": 2}
    train_localizer(tmp_path, "ens", n_train=24, n_heldout=12, epochs=2, gnn=gnn)
    art = load_artifacts(tmp_path, "ens")
    assert art.model.config.members == 2
    first, second = (m.encoder[0].weight for m in art.model.members)
    assert not torch.equal(first, second)
    graph = synthetic_graphs(1, 9, IncidentGraphBuilder(GraphConfig()), SMALL)[0].graph
    localizer = load_localizer(tmp_path, "ens")
    from rca_service.localize.trainer import graph_logits

    mean = np.mean([graph_logits(m, graph)[0] for m in art.model.members], axis=0)
    assert np.allclose(graph_logits(localizer.model, graph)[0], mean, atol=1e-5)
    assert "2 x RootCauseGNN" in (art.path / "card.md").read_text()
