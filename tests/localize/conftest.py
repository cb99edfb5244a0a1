"""Fixtures of the localize tests: a tiny trained localizer shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rca_service.localize.ranker import Localizer, load_localizer
from rca_service.localize.train import train_localizer


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models dir holding a small localizer trained on a few synthetic incidents."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("models")
    train_localizer(out, "t1", n_train=80, n_heldout=30, epochs=12, seed=3, gnn={"hidden": 16, "layers": 1, "heads": 1})
    return out


@pytest.fixture(scope="session")
def tiny_localizer(tiny_models_dir: Path) -> Localizer:
    return load_localizer(tiny_models_dir, "latest")
