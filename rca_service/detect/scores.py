"""What a detector says about a service: one step (`ServiceScore`) or a range (`ScoreFrame`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rca_service.detect.incident import SignalScore

LSTM_AE = "lstm_ae"
NSIGMA = "nsigma"


@dataclass
class ServiceScore:
    """One service at one step.

    Attributes:
        service: the service.
        time: start of the step (unix s).
        score: the service score over its threshold (> 1 = anomalous).
        raw: the score before dividing by the threshold.
        threshold: the threshold used.
        threshold_method: "pot" | "quantile" | "global" | "gaussian".
        detector: "lstm_ae" or "nsigma".
        signals: the signals that drove the score, strongest first; each signal's score is on
            the same scale (> 1 = that signal alone crosses the threshold).
        latent: the encoder's latent vector for the window (lstm_ae only).
        anomalous_signals: every signal whose own score is above 1 at this step (not only the
            top ones), for telling a new symptom from one already known.
    """

    service: str
    time: float
    score: float
    raw: float
    threshold: float
    threshold_method: str
    detector: str
    signals: list[SignalScore] = field(default_factory=list)
    latent: list[float] | None = None
    anomalous_signals: tuple[str, ...] = ()

    @property
    def anomalous(self) -> bool:
        return self.score > 1.0

    def to_dict(self) -> dict:
        return {
            "service": self.service,
            "time": self.time,
            "score": self.score,
            "anomalous": self.anomalous,
            "raw": self.raw,
            "threshold": self.threshold,
            "threshold_method": self.threshold_method,
            "detector": self.detector,
            "signals": [vars(s).copy() for s in self.signals],
            "anomalous_signals": list(self.anomalous_signals),
        }


@dataclass
class ScoreFrame:
    """Per-step, per-signal normalised scores of one service over a range (for localize).

    Attributes:
        service: the service.
        times: (T,) step starts.
        signals: the S signals scored (those with a normal baseline).
        scores: (T, S) per-signal scores over the threshold (> 1 = anomalous on its own); NaN where
            the value is missing.
        zscores: (T, S) robust z-scores against the service's normal history (NaN where missing).
        service_scores: (T,) the service score over its threshold per step.
        detector: "lstm_ae" or "nsigma".
        threshold: the service threshold used (raw units).
    """

    service: str
    times: np.ndarray
    signals: list[str]
    scores: np.ndarray
    zscores: np.ndarray
    service_scores: np.ndarray
    detector: str
    threshold: float

    def top_signals(self, k: int = 3) -> list[tuple[str, float]]:
        """The k signals with the highest peak score over the range."""
        if not self.signals or self.scores.size == 0:
            return []
        with np.errstate(all="ignore"):
            peak = np.nanmax(np.where(np.isfinite(self.scores), self.scores, -np.inf), axis=0)
        order = np.argsort(-peak)[:k]
        return [(self.signals[i], float(peak[i])) for i in order if np.isfinite(peak[i])]


def top_signal_scores(signals: list[str], scores: np.ndarray, z: np.ndarray, values: np.ndarray,
                      expected: np.ndarray, k: int) -> list[SignalScore]:
    """The k highest finite per-signal scores as SignalScore, strongest first."""
    finite = np.isfinite(scores)
    # non-finite scores sort last, so the first finite ones are the first of the order
    order = np.argsort(-np.where(finite, scores, -np.inf))[: min(k, int(finite.sum()))].tolist()
    out = []
    for i in order:
        v = float(values[i])
        e = float(expected[i])
        out.append(SignalScore(signals[i], float(scores[i]), v if math.isfinite(v) else None, e if math.isfinite(e) else None))
    return out
