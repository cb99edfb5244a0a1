"""`rca-service eval` on a few Sock Shop cases: one JSON object with ranks and metrics."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from rca_service.cli import main
from rca_service.localize.evaluate import format_report
from rca_service.localize.metrics import accuracy_at, services_from_columns, summarize


@pytest.fixture(scope="module")
def sockshop_report(sockshop_dir, tiny_models_dir) -> tuple[int, str]:
    """One `eval --json --baselines` run on two Sock Shop cases: (exit code, stdout)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["eval", "--format", "rcaeval", "--path", str(sockshop_dir), "--json", "--limit", "2",
                     "--baselines", "--models-dir", str(tiny_models_dir)])
    return code, buf.getvalue()


def test_eval_json_on_sockshop_cases(sockshop_report) -> None:
    code, out = sockshop_report
    assert code == 0
    rep = json.loads(out)  # exactly one JSON object on stdout
    assert len(rep["cases"]) == 2
    services = {"carts", "carts-db", "front-end", "orders", "user"}
    for case in rep["cases"]:
        assert case["label"] and case["fault"]
        assert isinstance(case["detected"], bool)
        assert len(case["ranks"]) >= 5 and services & set(case["ranks"])
        assert len(set(case["ranks"])) == len(case["ranks"])
    for key in ("AC@1", "AC@3", "AC@5", "Avg@5"):
        assert 0.0 <= rep[key] <= 1.0
        for name in ("baro", "nsigma"):
            assert 0.0 <= rep["baselines"][name][key] <= 1.0
    assert rep["AC@1"] <= rep["AC@3"] <= rep["AC@5"]
    assert set(rep["per_fault"]) <= {"cpu", "mem"}
    assert rep["baselines"]["baro"]["AC@5"] > 0  # BARO finds these cpu faults: the frame it got is sane
    assert len(rep["model"]["sha256"]) == 4


def test_text_report_has_cases_and_tables(sockshop_report) -> None:
    text = format_report(json.loads(sockshop_report[1]))
    assert "carts_cpu/1" in text
    assert "AC@1" in text and "Avg@5" in text and "baro" in text


def test_eval_of_a_folder_without_cases_fails(tiny_models_dir, tmp_path) -> None:
    assert main(["eval", "--format", "rcaeval", "--path", str(tmp_path), "--models-dir", str(tiny_models_dir)]) != 0


def test_metrics() -> None:
    ranked = [(["a", "b", "c"], "a"), (["b", "a"], "a"), (["c"], "a")]
    assert accuracy_at(ranked, 1) == pytest.approx(1 / 3)
    assert accuracy_at(ranked, 2) == pytest.approx(2 / 3)
    s = summarize(ranked)
    assert s["Avg@5"] == pytest.approx((1 / 3 + 2 / 3 * 4) / 5)
    assert services_from_columns(["s1_cpu", "s0_mem", "s1_lat"]) == ["s1", "s0"]
