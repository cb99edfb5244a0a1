"""Confidence calibration: temperature scaling of the node softmax, and when to say "inconclusive".

Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017): one temperature T divides
the logits of every graph before the softmax; T is fitted on held-out cases by minimising the
negative log-likelihood of the true root. Expected calibration error (ECE) measures the gap
between the top confidence and the hit rate, over equal-width confidence bins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from rca_service.errors import ConfigError, ModelError


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of one graph's node logits at a temperature."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE: sum over bins of (share of cases) × |hit rate − mean confidence|."""
    conf = np.asarray(confidences, dtype=float)
    hit = np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(hit[m].mean() - conf[m].mean())
    return float(ece)


def fit_temperature(logit_sets: list[np.ndarray], targets: list[int]) -> float:
    """The temperature minimising the NLL of the true roots (golden-section search on log T)."""
    if not logit_sets:
        raise ModelError("no held-out cases to calibrate on")

    def nll(log_t: float) -> float:
        t = float(np.exp(log_t))
        return -float(np.mean([np.log(softmax(lg, t)[y] + 1e-12) for lg, y in zip(logit_sets, targets)]))

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


@dataclass
class Calibration:
    """How scores become confidences, and when a result is inconclusive.

    Attributes:
        temperature: divides node logits before the softmax.
        min_confidence: below this top confidence the result is inconclusive.
        min_deviation: when no signal of any node moved more than this many robust standard
            deviations, nothing stands out and the result is inconclusive.
        ece_before: expected calibration error on the held-out cases at temperature 1.
        ece_after: the same at the fitted temperature.
        heldout_cases: number of held-out cases it was fitted on.
    """

    temperature: float = 1.0
    min_confidence: float = 0.35
    min_deviation: float = 4.0
    ece_before: float | None = None
    ece_after: float | None = None
    heldout_cases: int = 0

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("temperature must be positive")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError("min_confidence must lie in [0, 1]")
        if self.min_deviation < 0:
            raise ConfigError("min_deviation must be >= 0")

    def confidences(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated root-cause probabilities of one graph's nodes, in [0, 1], summing to 1."""
        return softmax(logits, self.temperature)

    def inconclusive(self, confidences: np.ndarray, max_deviation: float) -> bool:
        """True when nothing stands out or the best candidate is not confident enough."""
        if confidences.size == 0 or max_deviation < self.min_deviation:
            return True
        return float(confidences.max()) < self.min_confidence

    @classmethod
    def fit(cls, logit_sets: list[np.ndarray], targets: list[int], **kwargs) -> "Calibration":
        """Fit the temperature on held-out cases and record the ECE before and after."""
        t = fit_temperature(logit_sets, targets)

        def ece(temp: float) -> float:
            probs = [softmax(lg, temp) for lg in logit_sets]
            return expected_calibration_error(np.array([p.max() for p in probs]),
                                              np.array([int(np.argmax(p)) == y for p, y in zip(probs, targets)]))

        return cls(temperature=t, ece_before=ece(1.0), ece_after=ece(t), heldout_cases=len(targets), **kwargs)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> "Calibration":
        try:
            d = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read calibration {path}: {exc}") from exc
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ModelError(f"unknown calibration keys in {path}: {sorted(unknown)}")
        return cls(**d)
