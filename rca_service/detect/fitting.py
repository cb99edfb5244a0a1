"""Fit a `DetectorModel` on normal frames: baselines, autoencoder, family references, threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca_service.detect.calibration import CalibrationConfig, Threshold, pot_threshold
from rca_service.detect.detector_model import DetectorModel, bounded_error
from rca_service.detect.features import (
    FAMILIES,
    EncodedFrame,
    FeatureConfig,
    RobustBaseline,
    encode_frame,
    sliding_windows,
)
from rca_service.detect.lstm_ae import LSTMAutoencoderConfig, reconstruct, train
from rca_service.detect.scoring import nanmax_rows, padded_windows
from rca_service.errors import InputError
from rca_service.store.frames import WindowFrame


@dataclass
class FitReport:
    """What fitting measured (goes into the model card)."""

    services: int
    train_windows: int
    epochs_loss: list[float]
    heldout_steps: int
    heldout_mse: float
    family_ref: dict
    global_threshold: dict


def split_normal(frame: WindowFrame, train_share: float) -> tuple[WindowFrame, WindowFrame]:
    """Earlier part for fitting, later part held out for calibration."""
    cut = int(len(frame.times) * train_share)
    mid = frame.times[cut] if cut < len(frame.times) else frame.times[-1] + frame.step
    return frame.slice(frame.times[0], mid), frame.slice(mid, frame.times[-1] + frame.step)


def fit_detector(frames: list[WindowFrame], model_config: LSTMAutoencoderConfig | None = None,
                 features: FeatureConfig | None = None, calibration: CalibrationConfig | None = None,
                 train_share: float = 0.7, progress: bool = False) -> tuple[DetectorModel, FitReport]:
    """Train on normal frames (one or more per service, any systems) and calibrate.

    Each frame is split in time: the first `train_share` fits the service's baseline and the
    autoencoder; the rest is held out to set the family references and the global threshold,
    so the threshold reflects errors on data the model did not see.

    Raises:
        InputError: no frame long enough to train on.
    """
    model_config = model_config or LSTMAutoencoderConfig()
    features = features or FeatureConfig()
    calibration = calibration or CalibrationConfig()
    if not 0.2 <= train_share < 1:
        raise InputError("train_share must be in [0.2, 1)")
    fitted: list[tuple[EncodedFrame, EncodedFrame]] = []
    for frame in frames:
        if len(frame.times) < 2 * model_config.window + features.min_history:
            continue
        fit_part, held = split_normal(frame, train_share)
        base = RobustBaseline.fit(fit_part.signals, np.asarray(fit_part.values, float), features)
        fitted.append((encode_frame(fit_part, base, features), encode_frame(held, base, features)))
    windows = [sliding_windows(tr, model_config.window) for tr, _ in fitted]
    windows = [w for w in windows if len(w)]
    if not windows:
        raise InputError("no normal frame is long enough to train the detector")
    data = np.concatenate(windows)
    model, losses = train(data, model_config, progress=progress)

    # Family references from errors on the fitting part (the last step of every window).
    sample = data[np.random.default_rng(model_config.seed).choice(len(data), min(len(data), 20000), replace=False)]
    recon, _ = reconstruct(model, sample)
    # Values exactly at the median (flat signals) have no error by construction: leave them out,
    # or families of mostly flat signals would get a near-zero reference.
    observed = (sample[:, -1, 1] > 0) & (sample[:, -1, 0] != 0)
    err = np.where(observed, bounded_error(recon[:, -1], sample[:, -1, 0]), np.nan)
    fam = np.argmax(sample[:, -1, 2 : 2 + len(FAMILIES)], axis=1)
    overall = float(np.nanquantile(err, 0.95)) if np.isfinite(err).any() else 1.0
    ref = np.full(len(FAMILIES), max(overall, 1e-3))
    for f in range(len(FAMILIES)):
        e = err[(fam == f) & np.isfinite(err)]
        if e.size >= 50:
            ref[f] = max(float(np.quantile(e, 0.95)), 1e-3)

    # The global threshold is set below from held-out scores; 1.0 only until then.
    det = DetectorModel(model, features, calibration, ref, Threshold(1.0, "unset", 0))
    raws, sq = [], []
    for _, held in fitted:
        if not len(held.times):
            continue
        errs = det.errors(padded_windows(held, model_config.window))
        rel = np.array([det.relative_errors(e, held.families) for e, _, _ in errs]).reshape(len(held.times), len(held.signals))
        raws.append(nanmax_rows(rel))
        sq.extend(float(np.nanmean(e**2)) for e, _, _ in errs if np.isfinite(e).any())
    raw = np.concatenate(raws) if raws else np.zeros(0)
    raw = raw[np.isfinite(raw)]
    if raw.size < 10:
        raise InputError("too few held-out normal steps to calibrate the global threshold")
    det.global_threshold = pot_threshold(raw, calibration.risk, calibration.init_quantile)
    report = FitReport(len(fitted), len(data), losses, int(raw.size), float(np.mean(sq)) if sq else float("nan"),
                       {f: float(v) for f, v in zip(FAMILIES, ref)}, det.global_threshold.to_dict())
    det.training = {"fit": vars(report)}
    return det, report
