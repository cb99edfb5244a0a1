"""Training through the real path: Nezha adapter -> TelemetryStore -> frames -> model version."""

import argparse
import json

import pytest

from rca_service.detect.detector_model import load_detector
from rca_service.detect.train import frames_from_batches, parse_sources, train_command
from rca_service.datasets import load_normal
from rca_service.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def nezha_normal_frames(nezha_dir):
    return frames_from_batches(load_normal("nezha", nezha_dir), max_hours=1)


def test_frames_come_from_the_store_with_metric_signals(nezha_normal_frames):
    assert len({f.service for f in nezha_normal_frames}) >= 5
    f = max(nezha_normal_frames, key=lambda f: len(f.times))
    assert 30 <= len(f.times) <= 62  # max_hours=1 keeps the first hour of a segment
    assert any(s.startswith("metric.cpu") for s in f.signals)


def test_train_command_writes_a_loadable_version(nezha_dir, tmp_path, monkeypatch, capsys):
    import rca_service.detect.train as train_mod

    real = train_mod.normal_frames
    # 1.5 hours of each fault-free period is plenty to check the path; one epoch keeps it short.
    monkeypatch.setattr(train_mod, "normal_frames", lambda sources, step=60, max_hours=None: real(sources, step, 1.5))
    args = argparse.Namespace(format="nezha", path=nezha_dir, out=tmp_path, version="t1", epochs=1, seed=0)
    assert train_command(args) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["version"] == "t1"
    assert (tmp_path / "detector" / "LATEST").read_text().strip() == "t1"
    det = load_detector(tmp_path, "latest")
    assert det.sha256 == printed["sha256"]
    card = (tmp_path / "detector" / "t1" / "card.md").read_text()
    assert "## Data" in card and "## Metrics" in card and det.sha256["weights.pt"] in card


def test_parse_sources(tmp_path):
    (tmp_path / "a").mkdir()
    assert parse_sources("nezha", f"sim:{tmp_path / 'a'}") == [("sim", tmp_path / "a")]
    with pytest.raises(ConfigError):
        parse_sources("nezha", None)
    with pytest.raises(DatasetError):
        parse_sources("nezha", tmp_path / "missing")
