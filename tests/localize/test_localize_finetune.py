"""Fine-tuning a shipped localizer on labelled cases, cross-validation by fold, and the
bookkeeping that keeps figures honest (which labels a model saw)."""

from __future__ import annotations

import contextlib
import io
import shutil

import pytest
import torch

from rca_service.cli import main
from rca_service.datasets.case import CaseRef
from rca_service.errors import DatasetError, InputError
from rca_service.localize.artifacts import load_artifacts
from rca_service.localize.evaluate import evaluate_cross_validated, fold_of_case, seen_labels
from rca_service.localize.finetune import FineTuneConfig, ReplaySets, cross_validate, fine_tune
from rca_service.localize.graph import IncidentGraphBuilder
from rca_service.localize.ranker import load_localizer
from rca_service.localize.train import finetune_localizer, synthetic_graphs
from rca_service.localize.trainer import LabelledGraph, root_ranks

SMALL = FineTuneConfig(epochs=3, repeat=2, synthetic_cases=16, heldout_cases=12, lr=3e-3)


@pytest.fixture(scope="module")
def base(tiny_models_dir):
    return load_artifacts(tiny_models_dir, "t1")


@pytest.fixture(scope="module")
def labelled(base) -> list[LabelledGraph]:
    """Synthetic graphs posing as a labelled folder of two 'days'."""
    graphs = synthetic_graphs(12, 777, IncidentGraphBuilder(base.graph_config))
    return [LabelledGraph(g.graph, g.target, g.kind, f"day{i % 2}/case-{i}") for i, g in enumerate(graphs)]


@pytest.fixture(scope="module")
def replay(base) -> ReplaySets:
    return ReplaySets.build(SMALL, IncidentGraphBuilder(base.graph_config))


def test_fine_tune_learns_the_cases_and_leaves_the_base_alone(base, labelled, replay) -> None:
    torch.set_num_threads(1)
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    model, calibration = fine_tune(base.model, labelled, FineTuneConfig(epochs=15, repeat=4, synthetic_cases=16,
                                                                        heldout_cases=12, lr=3e-3), replay)
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())
    # the training cases' roots move up (sum of ranks strictly better)
    assert root_ranks(model, labelled).sum() < root_ranks(base.model, labelled).sum()
    assert calibration.temperature > 0 and calibration.heldout_cases == len(replay.heldout)


def test_fine_tune_refuses_no_cases(base, replay) -> None:
    with pytest.raises(InputError):
        fine_tune(base.model, [], SMALL, replay)


def test_cross_validate_trains_each_fold_without_its_own_cases(base, labelled, replay) -> None:
    fold_of = lambda name: name.split("/")[0]  # noqa: E731
    models = cross_validate(base.model, labelled, fold_of, SMALL, replay)
    assert set(models) == {"day0", "day1"}
    with pytest.raises(InputError):
        cross_validate(base.model, [g for g in labelled if g.name.startswith("day0")], fold_of, SMALL, replay)


def test_fold_of_case() -> None:
    assert fold_of_case("nezha", "2022-08-22/04-cartservice-network_delay") == "2022-08-22"
    assert fold_of_case("rcaeval", "carts_cpu/3") == "3"
    with pytest.raises(DatasetError):
        fold_of_case("sim", "x")


def _ref(name: str, inject_time: float) -> CaseRef:
    return CaseRef(name, "test", "svc", "cpu", inject_time, None, None)


def test_finetuned_version_records_the_labels_it_saw(base, labelled, tiny_models_dir, tmp_path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    finetune_localizer(models, "t1-ft", base, labelled, "nezha", SMALL, "test cases")
    loc = load_localizer(models, "t1-ft")
    assert loc.artifacts.meta["init"]["version"] == "t1"
    refs = [_ref(g.name, 1000.0 + i) for i, g in enumerate(labelled)]
    assert seen_labels(loc, "nezha", refs + [_ref("day9/other", 5.0)]) == len(refs)
    assert seen_labels(loc, "rcaeval", refs) == 0  # same names, another dataset format
    assert seen_labels(load_localizer(models, "t1"), "nezha", refs) == 0


def test_cases_are_matched_by_name_and_injection_when_keys_were_recorded(base, labelled, tiny_models_dir, tmp_path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    refs = [_ref(g.name, 1000.0 + i) for i, g in enumerate(labelled)]
    keyed = [LabelledGraph(g.graph, g.target, g.kind, g.name, r.key) for g, r in zip(labelled, refs)]
    finetune_localizer(models, "t1-keys", base, keyed, "sim", SMALL, "test cases")
    loc = load_localizer(models, "t1-keys")
    assert seen_labels(loc, "sim", refs) == len(refs)
    # another simulator dataset with the same case names: other systems, labels never seen
    assert seen_labels(loc, "sim", [_ref(r.name, r.inject_time + 3600) for r in refs]) == 0


def test_eval_refuses_to_cross_validate_a_model_that_saw_the_labels(base, tiny_models_dir, sockshop_dir, tmp_path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir, models)
    graphs = synthetic_graphs(2, 5, IncidentGraphBuilder(base.graph_config))
    seen = [LabelledGraph(g.graph, g.target, g.kind, name) for g, name in zip(graphs, ["carts_cpu/1", "carts_cpu/2"])]
    finetune_localizer(models, "t1-ss", base, seen, "rcaeval", SMALL, "test cases")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["eval", "--format", "rcaeval", "--path", str(sockshop_dir), "--limit", "2", "--cross-validate",
                     "--models-dir", str(models), "--version", "t1-ss"])
    assert code == 2
    assert "--version t1" in err.getvalue()


def test_cross_validated_eval_on_two_repetitions(tiny_models_dir, sockshop_dir, tmp_path) -> None:
    folder = tmp_path / "ss"
    for rep in ("1", "2"):
        shutil.copytree(sockshop_dir / "carts_cpu" / rep, folder / "carts_cpu" / rep)
    loc = load_localizer(tiny_models_dir, "t1")
    rep = evaluate_cross_validated("rcaeval", folder, loc, SMALL)
    assert [c["case"] for c in rep["cases"]] == ["carts_cpu/1", "carts_cpu/2"]
    assert rep["cross_validation"]["folds"] == {"1": 1, "2": 1}
    assert rep["cross_validation"]["base"] == "t1" and rep["seen_labels"] == 0
    assert 0.0 <= rep["cross_validation"]["base_model"]["AC@1"] <= 1.0
    assert all(c["label"] == "carts" and "carts" in c["ranks"] for c in rep["cases"])


def test_replay_sets_mix_in_folder_cases(base, labelled) -> None:
    sets = ReplaySets.build(SMALL, IncidentGraphBuilder(base.graph_config), replay=labelled[:3], calibration=labelled[3:5])
    assert len(sets.train) == SMALL.synthetic_cases + 3 and sets.train[-3:] == labelled[:3]
    assert len(sets.heldout) == SMALL.heldout_cases + 2 and sets.heldout[-2:] == labelled[3:5]
