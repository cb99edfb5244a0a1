"""How far each signal of a service moved after the incident onset, against its own history.

Only robust statistics of the service's own baseline are used (median and MAD), so the numbers
compare across systems, units and scales: a deviation of 10 means "ten robust standard
deviations away from what this signal usually does", whatever the signal measures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rca_service.store.frames import WindowFrame, signal_family

# Families the localizer reasons about; `signal_family` may also answer "other".
FAMILIES = ("latency", "errors", "traffic", "resource", "network", "logs", "change", "other")

_MAD_TO_STD = 1.4826
_Z_CLIP = 1e4
# Attribute keys naming the callee of a client-side series (OpenTelemetry semantic conventions).
PEER_KEYS = ("peer.service", "service.peer.name", "peer")


def signal_peer(signal: str) -> str | None:
    """The callee a signal measures from the caller's side, from a `{peer.service=X}` label."""
    start = signal.find("{")
    if start < 0 or not signal.endswith("}"):
        return None
    for part in signal[start + 1:-1].split(","):
        key, _, value = part.partition("=")
        if key.strip() in PEER_KEYS and value.strip():
            return value.strip()
    return None


@dataclass
class SignalDeviation:
    """One signal's move from its baseline into the analysis window.

    Attributes:
        signal: the signal name.
        family: its family (see `FAMILIES`).
        z: (A,) signed robust z-scores over the analysis steps (NaN where no data).
        peak: max |z| over the analysis steps (0 when the window has no data).
        baseline: median of the baseline steps.
        peak_value: the raw value at the peak step.
        onset: index of the first analysis step with |z| above the onset threshold, or None.
        held: the largest |z| the signal kept for two steps in a row; a one-step spike holds little
            (the signal's peak when the window has no two adjacent steps with data).
    """

    signal: str
    family: str
    z: np.ndarray
    peak: float
    baseline: float
    peak_value: float
    onset: int | None
    held: float = 0.0


def _sparse_count(vals: np.ndarray) -> bool:
    """True for whole, non-negative numbers that are mostly zero or small (rare events per step)."""
    return bool(vals.min() >= 0 and vals.mean() < 5.0 and np.all(vals == np.round(vals)))


def robust_scale(baseline: np.ndarray) -> tuple[float, float]:
    """(median, scale) of a baseline; the scale never collapses to zero.

    A flat baseline (MAD = 0, common for error rates at zero) falls back to the standard
    deviation, then to 1% of the median's magnitude, then to a small absolute floor, so that a
    move away from a constant reads as large but finite.
    """
    vals = baseline[np.isfinite(baseline)]
    if vals.size == 0:
        return 0.0, 1.0
    med = float(np.median(vals))
    scale = _MAD_TO_STD * float(np.median(np.abs(vals - med)))
    floor = max(0.01 * abs(med), 1e-3)
    if _sparse_count(vals):
        # rare events per step (error logs, restarts): Poisson noise is about one event, so one
        # stray error log after a silent hour is not a thousand-sigma event
        floor = max(floor, 1.0)
    if scale < floor:
        scale = max(float(np.std(vals)), floor)
    return med, scale


def held_peak(absz: np.ndarray) -> float:
    """Largest level two adjacent steps both reach (NaN = no data); the plain peak without such a pair.

    The detector opens incidents on deviations that last two steps; a service whose only
    deviation is a one-step spike (a burst of bytes, a GC pause) looks like that in normal hours too.
    """
    pairs = np.minimum(absz[:-1], absz[1:])
    pairs = pairs[np.isfinite(pairs)]
    if pairs.size:
        return float(pairs.max())
    finite = absz[np.isfinite(absz)]
    return float(finite.max()) if finite.size else 0.0


def signal_deviations(before: WindowFrame, after: WindowFrame, onset_z: float, min_baseline: int = 3) -> list[SignalDeviation]:
    """Deviation of every signal the service has in both windows.

    Args:
        before: the baseline steps (history before the onset).
        after: the analysis steps (from the onset on).
        onset_z: |z| above which a step counts as anomalous for onset timing.
        min_baseline: signals with fewer baseline points are skipped (no notion of normal).

    Returns:
        One `SignalDeviation` per usable signal; signals with no data after the onset are skipped.
    """
    out: list[SignalDeviation] = []
    for idx, signal in enumerate(after.signals):
        a = after.values[:, idx]
        if not np.isfinite(a).any():
            continue
        b = before.column(signal)
        if np.isfinite(b).sum() < min_baseline:
            continue
        med, scale = robust_scale(b)
        z = np.clip((a - med) / scale, -_Z_CLIP, _Z_CLIP)
        absz = np.where(np.isfinite(z), np.abs(z), -1.0)
        k = int(np.argmax(absz))
        above = np.flatnonzero(absz > onset_z)
        out.append(SignalDeviation(
            signal=signal,
            family=signal_family(signal),
            z=z,
            peak=float(max(absz[k], 0.0)),
            baseline=med,
            peak_value=float(a[k]),
            onset=int(above[0]) if above.size else None,
            held=held_peak(np.abs(z)),
        ))
    return out


def own_signals(devs: list[SignalDeviation]) -> list[SignalDeviation]:
    """The deviations of a service's own signals: a series measured against a named peer
    describes that call, not the service."""
    return [d for d in devs if signal_peer(d.signal) is None]


def family_peaks(devs: list[SignalDeviation]) -> dict[str, tuple[float, float, int]]:
    """Per family: (max peak, mean peak, number of signals), over the service's own signals
    (series measured against a named peer describe that call, not the service)."""
    out: dict[str, tuple[float, float, int]] = {}
    own = own_signals(devs)
    for fam in FAMILIES:
        peaks = [d.peak for d in own if d.family == fam]
        if peaks:
            out[fam] = (max(peaks), float(np.mean(peaks)), len(peaks))
    return out
