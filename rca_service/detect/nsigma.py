"""Cold-start detector: robust n-sigma on the service's own (short) normal history.

Used until a service has enough history for the autoencoder, and as the baseline the benchmark
compares the autoencoder with. The score of a step is the largest robust |z| over the service's
signals. With no calibration history the threshold is the Gaussian tail for the risk level,
Bonferroni-corrected for the number of signals; when normal scores are available it is
calibrated like the autoencoder's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from rca_service.detect.calibration import Threshold
from rca_service.detect.features import FeatureConfig, RobustBaseline, reject_unknown_keys
from rca_service.detect.scores import NSIGMA, ServiceScore, top_signal_scores
from rca_service.errors import ConfigError


@dataclass
class NSigmaConfig:
    """Cold-start detector settings.

    Attributes:
        risk: false-alarm probability per service and step for the Gaussian threshold.
        top_signals: how many driving signals to report.
    """

    risk: float = 1e-3
    top_signals: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.risk < 0.5:
            raise ConfigError("NSigmaConfig.risk must be in (0, 0.5)")
        if self.top_signals < 1:
            raise ConfigError("NSigmaConfig.top_signals must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "NSigmaConfig":
        reject_unknown_keys(cls, data)
        return cls(**data)


def gaussian_threshold(risk: float, n_signals: int) -> Threshold:
    """|z| exceeded with probability `risk` by the largest of `n_signals` Gaussian z-scores."""
    return Threshold(_gaussian_z(risk, max(1, n_signals)), "gaussian", 0)


@lru_cache(maxsize=1024)
def _gaussian_z(risk: float, n_signals: int) -> float:
    from scipy.stats import norm  # scipy's distribution objects are slow per call: cache the value

    return float(norm.isf(risk / (2 * n_signals)))


class NSigmaDetector:
    """Scores a service's newest step by its largest robust z-score.

    Args:
        config: settings.
        features: normalisation settings (shared with the autoencoder).
    """

    name = NSIGMA

    def __init__(self, config: NSigmaConfig | None = None, features: FeatureConfig | None = None) -> None:
        self.config = config or NSigmaConfig()
        self.features = features or FeatureConfig()

    def raw_scores(self, baseline: RobustBaseline, signals: list[str], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-step raw scores and |z|.

        Args:
            values: (T, S) values of `signals`.

        Returns:
            (raw (T,), absz (T, S)); raw is NaN where a step has no normalisable value, absz NaN
            where masked.
        """
        z, mask = baseline.zscores(signals, np.asarray(values, dtype=np.float64), self.features)
        absz = np.where(mask, np.abs(z), np.nan)
        with np.errstate(all="ignore"):
            raw = np.where(mask.any(axis=1), np.nanmax(np.where(mask, absz, -np.inf), axis=1), np.nan)
        return raw, absz

    def threshold(self, n_signals: int, calibrated: Threshold | None = None) -> Threshold:
        """The calibrated threshold when there is one, else the Gaussian one."""
        return calibrated if calibrated is not None else gaussian_threshold(self.config.risk, n_signals)

    def score(self, service: str, time: float, baseline: RobustBaseline, signals: list[str], row: np.ndarray,
              calibrated: Threshold | None = None) -> ServiceScore | None:
        """Score one step (`row`: (S,) values of `signals`); None when nothing can be normalised."""
        raw, absz = self.raw_scores(baseline, signals, np.asarray(row, dtype=np.float64)[None, :])
        if not np.isfinite(raw[0]):
            return None
        n = int(np.isfinite(absz[0]).sum())
        thr = self.threshold(n, calibrated)
        index = {s: i for i, s in enumerate(baseline.signals)}
        expected = np.array([baseline.median[index[s]] if s in index else np.nan for s in signals])
        top = top_signal_scores(signals, absz[0] / thr.value, absz[0], np.asarray(row, float), expected, self.config.top_signals)
        hot = tuple(signals[j] for j in np.flatnonzero(absz[0] > thr.value))
        return ServiceScore(service, float(time), float(raw[0] / thr.value), float(raw[0]), thr.value, thr.method, NSIGMA, top,
                            anomalous_signals=hot)
