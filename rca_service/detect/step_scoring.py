"""Score every autoencoder-scored service of one streaming step in a single batched pass.

Scoring 50 services one by one spends most of a step in per-service numpy and Python calls
(normalise, compress, build the channel inputs, slice the reconstruction, pick the top
signals), each on a (window x ~30) array. Here the services' windows are laid side by side as
channels of one (window, C) matrix, so normalisation, the channel inputs, the forward pass, the
errors and the service scores are a few array operations each; only building the result
objects stays per service. The arithmetic is the same as scoring each service on its own
(`features.encode_frame` + `DetectorModel.errors`), which the detector tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca_service.detect.calibration import Threshold
from rca_service.detect.detector_model import DetectorModel
from rca_service.detect.features import compress, normalise
from rca_service.detect.scores import LSTM_AE, ServiceScore, top_signal_scores
from rca_service.errors import InputError


@dataclass
class ServiceWindow:
    """One service's window as the batched scorer needs it.

    Attributes:
        service: the service.
        values: (W, S_all) raw values of the window, columns as in the store's frame.
        columns: (S,) the columns kept (signals with a baseline).
        signals: the S kept signal names.
        families: (S,) their family indices.
        median: (S,) baseline medians of the kept signals.
        scale: (S,) baseline scales of the kept signals.
        refs: (S,) the service's per-signal normal error references (0 where none).
        threshold: the service's threshold.
        past_anomalous: (W - 1,) bool, earlier steps of the window already judged anomalous
            (masked, so one burst does not echo through the next windows); None: none were.
    """

    service: str
    values: np.ndarray
    columns: np.ndarray
    signals: list[str]
    families: np.ndarray
    median: np.ndarray
    scale: np.ndarray
    refs: np.ndarray
    threshold: Threshold
    past_anomalous: np.ndarray | None = None


@dataclass
class BatchScore:
    """What the batched pass says about one service.

    Attributes:
        score: the service's score (autoencoder detector).
        errors: (S,) the kept signals' reconstruction errors (NaN where masked), kept as the
            service's normal error history when the step turns out normal.
    """

    score: ServiceScore
    errors: np.ndarray


def score_windows(model: DetectorModel, t: float, windows: list[ServiceWindow], top_k: int) -> list[BatchScore]:
    """Score the last step of every window with the autoencoder, all in one forward pass.

    Args:
        model: the trained detector.
        t: start of the step scored.
        windows: one per service; every window has the same length (the model's window), and
            its last row has at least one value of a kept signal.
        top_k: driving signals reported per service.

    Returns:
        One BatchScore per window, in order.

    Raises:
        InputError: a window without any kept signal.
    """
    if not windows:
        return []
    sizes = np.array([len(w.signals) for w in windows], dtype=np.int64)
    if not sizes.all():
        raise InputError("every window scored needs at least one signal with a baseline")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    raw = np.concatenate([w.values[:, w.columns] for w in windows], axis=1)
    median = np.concatenate([w.median for w in windows])
    scale = np.concatenate([w.scale for w in windows])
    families = np.concatenate([w.families for w in windows]).astype(np.int64)
    z, mask = normalise(raw, median, scale, None, model.features)
    x = compress(z)
    if any(w.past_anomalous is not None for w in windows):
        rows = np.ones((raw.shape[0], len(windows)), dtype=bool)
        for i, w in enumerate(windows):
            if w.past_anomalous is not None:
                rows[:-1, i] = ~w.past_anomalous
        keep = rows[:, np.repeat(np.arange(len(windows)), sizes)]
        mask &= keep
        x[~keep] = 0.0
    err, recon, latent = model.last_step_errors(x, mask, families, starts)
    rel = model.relative_errors(err, families, np.concatenate([w.refs for w in windows]))
    thr = np.repeat(np.array([w.threshold.value for w in windows]), sizes)
    # the largest non-NaN relative error of each service, 0 for one without a finite error
    peak = np.maximum.reduceat(np.where(np.isnan(rel), -np.inf, rel), starts[:-1])
    peak[~np.logical_or.reduceat(np.isfinite(rel), starts[:-1])] = 0.0
    # Expected value: the reconstruction mapped back through each service's normalisation.
    expected = median + scale * (np.sign(recon) * np.expm1(np.abs(recon)))
    signal_scores = rel / thr
    last = raw[-1]
    hot_at = np.flatnonzero(rel > thr)
    hot_owner = np.searchsorted(starts, hot_at, side="right") - 1
    out = []
    for i, w in enumerate(windows):
        a, b = int(starts[i]), int(starts[i + 1])
        value = float(peak[i])
        top = top_signal_scores(w.signals, signal_scores[a:b], rel[a:b], last[a:b], expected[a:b], top_k)
        hot = tuple(w.signals[j - a] for j in hot_at[hot_owner == i]) if len(hot_at) else ()
        tv = w.threshold.value
        score = ServiceScore(w.service, float(t), value / tv, value, tv, w.threshold.method, LSTM_AE, top,
                             latent[i].tolist(), hot)
        out.append(BatchScore(score, err[a:b]))
    return out
