"""Score a whole frame: per-step, per-signal normalised scores (what localize reads)."""

from __future__ import annotations

import numpy as np

from rca_service.detect.calibration import Threshold
from rca_service.detect.detector_model import DetectorModel
from rca_service.detect.features import EncodedFrame, FeatureConfig, RobustBaseline, encode_frame
from rca_service.detect.nsigma import NSigmaConfig, NSigmaDetector
from rca_service.detect.scores import LSTM_AE, NSIGMA, ScoreFrame
from rca_service.errors import InputError
from rca_service.store.frames import WindowFrame


def nanmax_rows(a: np.ndarray) -> np.ndarray:
    """Row-wise max ignoring NaN; NaN for rows with no finite value."""
    if a.ndim != 2 or a.shape[1] == 0:
        return np.full(a.shape[0] if a.ndim else 0, np.nan)
    finite = np.isfinite(a)
    return np.where(finite.any(axis=1), np.max(np.where(finite, a, -np.inf), axis=1), np.nan)


def padded_windows(enc: EncodedFrame, window: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One window ending at every step; the first steps are padded with masked rows."""
    t, s = enc.x.shape
    x = np.vstack([np.zeros((window - 1, s)), enc.x])
    m = np.vstack([np.zeros((window - 1, s), dtype=bool), enc.mask])
    return [(x[i : i + window], m[i : i + window], enc.families) for i in range(t)]


def score_frame(frame: WindowFrame, model: DetectorModel | None, history: WindowFrame | RobustBaseline,
                threshold: Threshold | None = None, features: FeatureConfig | None = None,
                nsigma: NSigmaConfig | None = None, signal_refs: dict[str, float] | None = None) -> ScoreFrame:
    """Per-step, per-signal anomaly scores of one service over a range.

    Args:
        frame: the range to score (e.g. an incident's window, with some steps before it).
        model: the trained detector; None scores with robust n-sigma instead.
        history: the service's normal history, as a frame or an already fitted baseline.
        threshold: the service's calibrated threshold (raw units); default the model's global
            threshold (n-sigma: the Gaussian threshold for the risk level).
        features: normalisation settings; default the model's (n-sigma: defaults).
        nsigma: n-sigma settings when `model` is None.
        signal_refs: per-signal normal error references of the service
            (`StreamingDetector.signal_refs(service)`); default: the family references only.

    Returns:
        A ScoreFrame whose `scores` are > 1 where a signal alone crosses the threshold.

    Raises:
        InputError: `history` is neither a WindowFrame nor a RobustBaseline.
    """
    features = features or (model.features if model is not None else FeatureConfig())
    if isinstance(history, RobustBaseline):
        baseline = history
    elif isinstance(history, WindowFrame):
        baseline = RobustBaseline.fit(history.signals, np.asarray(history.values, dtype=np.float64), features)
    else:
        raise InputError(f"history must be a WindowFrame or RobustBaseline, not {type(history).__name__}")
    enc = encode_frame(frame, baseline, features)
    zscores = np.where(enc.mask, enc.z, np.nan)
    if model is None:
        det = NSigmaDetector(nsigma, features)
        thr = det.threshold(len(enc.signals), threshold)
        absz = np.abs(zscores)
        return ScoreFrame(frame.service, enc.times, enc.signals, absz / thr.value, zscores,
                          nanmax_rows(absz) / thr.value, NSIGMA, thr.value)
    thr = threshold or model.global_threshold
    errs = model.errors(padded_windows(enc, model.window)) if len(enc.times) else []
    refs = np.array([(signal_refs or {}).get(s, 0.0) for s in enc.signals])
    rel = np.array([model.relative_errors(e, enc.families, refs) for e, _, _ in errs]).reshape(len(enc.times), len(enc.signals))
    return ScoreFrame(frame.service, enc.times, enc.signals, rel / thr.value, zscores, nanmax_rows(rel) / thr.value,
                      LSTM_AE, thr.value)
