"""Fixtures for detector tests: one tiny detector trained once per session on synthetic data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from synth import normal_frames  # noqa: E402

from rca_service.detect.fitting import fit_detector  # noqa: E402
from rca_service.detect.lstm_ae import LSTMAutoencoderConfig  # noqa: E402

TINY = LSTMAutoencoderConfig(window=8, hidden=16, latent=4, epochs=4, max_windows=6000, seed=0)


@pytest.fixture(scope="session")
def tiny_detector():
    torch.set_num_threads(1)
    det, report = fit_detector(normal_frames(6, 360, seed=0), TINY)
    return det
