"""Thresholds calibrated on normal scores: peaks over threshold, with an empirical fallback.

Peaks-over-threshold (Siffer et al., "Anomaly Detection in Streams with Extreme Value Theory",
KDD 2017): scores above a high initial level ``t`` follow a generalised Pareto distribution;
fitting it gives the level exceeded with probability ``risk`` even when the normal history holds
fewer than ``1 / risk`` points. The only operator knob is the risk level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from rca_service.detect.features import reject_unknown_keys
from rca_service.errors import ConfigError, InputError


@dataclass
class CalibrationConfig:
    """How thresholds are set.

    Attributes:
        risk: probability that a normal step's score crosses the threshold (false-alarm rate per
            service and step, before the incident rules). The default follows from the false
            incident budget, not from fault data: an incident needs two flagged steps out of
            three, which independent normal steps do with probability about 3 * risk**2 =
            2.7e-5 per service and step, i.e. one false incident per ten hours across some
            60 services scored every minute (the issue's target: at most one per 10 h).
        init_quantile: level of POT's initial threshold; the tail above it is fitted.
        min_points: fewer normal scores than this and a service uses the global threshold.
    """

    risk: float = 3e-3
    init_quantile: float = 0.95
    min_points: int = 120

    def __post_init__(self) -> None:
        if not 0 < self.risk < 0.5:
            raise ConfigError("CalibrationConfig.risk must be in (0, 0.5)")
        if not 0.5 <= self.init_quantile < 1:
            raise ConfigError("CalibrationConfig.init_quantile must be in [0.5, 1)")
        if self.min_points < 10:
            raise ConfigError("CalibrationConfig.min_points must be >= 10")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CalibrationConfig":
        reject_unknown_keys(cls, data)
        return cls(**data)


@dataclass
class Threshold:
    """A calibrated threshold and how it was obtained ("pot", "quantile", "global")."""

    value: float
    method: str
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def pot_threshold(scores: np.ndarray, risk: float, init_quantile: float) -> Threshold:
    """The score exceeded with probability `risk` under the fitted tail of `scores`.

    Falls back to the empirical quantile when the tail is too short to fit or when `risk` is
    not in the tail (risk >= 1 - init_quantile).

    Raises:
        InputError: no finite scores.
    """
    from scipy.stats import genpareto

    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise InputError("cannot calibrate on an empty score list")
    if risk >= 1 - init_quantile:
        return Threshold(float(np.quantile(s, 1 - risk)), "quantile", int(s.size))
    t = float(np.quantile(s, init_quantile))
    excess = s[s > t] - t
    if excess.size < 10 or float(np.ptp(excess)) <= 0:
        return Threshold(float(np.quantile(s, 1 - risk)), "quantile", int(s.size))
    try:
        gamma, _, sigma = genpareto.fit(excess, floc=0)
    except Exception:  # scipy's optimiser can fail on degenerate tails; the quantile still holds
        return Threshold(float(np.quantile(s, 1 - risk)), "quantile", int(s.size))
    ratio = risk * s.size / excess.size
    if abs(gamma) < 1e-6:
        z = t - sigma * math.log(ratio)
    else:
        z = t + (sigma / gamma) * (ratio ** (-gamma) - 1.0)
    # The tail starts at t: a fitted level below it would contradict the data it came from.
    z = max(float(z), t)
    if not math.isfinite(z):
        return Threshold(float(s.max()), "quantile", int(s.size))
    return Threshold(z, "pot", int(s.size))


def calibrate(scores: np.ndarray, config: CalibrationConfig, fallback: Threshold | None = None) -> Threshold:
    """Per-service threshold from its own normal scores, or `fallback` when there are too few.

    Raises:
        InputError: too few scores and no fallback.
    """
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size < config.min_points:
        if fallback is None:
            raise InputError(f"{s.size} normal scores, need {config.min_points} (and no global fallback)")
        return Threshold(fallback.value, "global", fallback.n)
    return pot_threshold(s, config.risk, config.init_quantile)
