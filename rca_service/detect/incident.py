"""Incidents: what detect hands to localize."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class SignalScore:
    """How far one signal of one service is from normal in one step.

    `score` is the reconstruction error of that signal relative to its calibrated threshold
    (> 1 means above the threshold).
    """

    signal: str
    score: float
    value: float | None = None
    expected: float | None = None


@dataclass
class ServiceAnomaly:
    """One service's anomaly within an incident."""

    service: str
    first_seen: float  # start of the first anomalous step
    last_seen: float
    peak_score: float  # service score / threshold at its peak
    detector: str  # "lstm_ae" or "nsigma" (cold start)
    signals: list[SignalScore] = field(default_factory=list)


@dataclass
class IncidentUpdate:
    """Something an incident gained after it was opened.

    Attributes:
        time: start of the step it was seen in.
        service: the service concerned.
        kind: "joined" (a service new to the incident began firing) or "new_symptom" (a member
            service's signal that was quiet in its episode began firing).
        signals: the signals firing that made it news.
    """

    time: float
    service: str
    kind: str
    signals: list[str] = field(default_factory=list)


@dataclass
class Incident:
    """A group of service anomalies close in time.

    Attributes:
        id: stable id, e.g. "inc-20260127-140500-3f2a".
        start: start of the earliest anomalous step (unix s).
        end: None while open; the end of the last anomalous step once closed.
        services: anomalies per service.
        status: "open" | "resolved".
        fingerprint: sha256 of the windows it was opened from (for the audit record).
        title: one line for people.
        related: ids of incidents that were still open when this one opened (it began while
            they lasted but from a service that had been quiet; kept apart, linked here).
        updates: what the incident gained after it was opened, oldest first: a fault that
            lands while the incident is open shows here, and its root causes are ranked again.
    """

    id: str
    start: float
    end: float | None
    services: dict[str, ServiceAnomaly] = field(default_factory=dict)
    status: str = "open"
    fingerprint: str = ""
    title: str = ""
    related: list[str] = field(default_factory=list)
    updates: list[IncidentUpdate] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Incident":
        services = {
            k: ServiceAnomaly(**{**v, "signals": [SignalScore(**s) for s in v.get("signals", [])]})
            for k, v in d.get("services", {}).items()
        }
        updates = [IncidentUpdate(**u) for u in d.get("updates", [])]
        return cls(**{**d, "services": services, "updates": updates})
