"""Root-cause results: what localize hands to respond, the API and the chat bot."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Fault kinds a root cause can be given; respond's playbooks map these to actions.
FAULT_KINDS = ("resource", "latency", "code_error", "network", "deploy", "unknown")


@dataclass
class Evidence:
    """One piece of evidence behind a root cause.

    kind: "metric" | "log_template" | "trace" | "change" | "topology".
    summary: one readable line; `data` holds ids, values, times.
    """

    kind: str
    summary: str
    data: dict = field(default_factory=dict)


@dataclass
class RootCause:
    service: str
    kind: str  # one of FAULT_KINDS
    score: float  # model score (higher = more likely), comparable within one result
    confidence: float  # calibrated probability that this is the root cause
    signal: str = ""  # the signal most implicated, e.g. "metric.cpu_usage_rate"
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class RCAResult:
    """A ranked root-cause list for one incident.

    `inconclusive` is True when no candidate is confident enough; `root_causes` still lists the
    candidates so a person can look, but nothing acts on them.
    """

    incident_id: str
    root_causes: list[RootCause]
    inconclusive: bool
    created_at: float
    model: dict = field(default_factory=dict)  # {"name", "version", "sha256": {file: hash}}
    inputs_fingerprint: str = ""
    explanation: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def acted_on_service(self) -> str | None:
        """The service a remediation would act on: the first cause; None when inconclusive."""
        if self.inconclusive or not self.root_causes:
            return None
        return self.root_causes[0].service

    @classmethod
    def from_dict(cls, d: dict) -> "RCAResult":
        rcs = [RootCause(**{**r, "evidence": [Evidence(**e) for e in r.get("evidence", [])]}) for r in d["root_causes"]]
        return cls(**{**d, "root_causes": rcs})
