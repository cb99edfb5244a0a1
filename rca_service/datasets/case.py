"""Labelled benchmark cases: what the adapters hand to eval, training and replay.

A `CaseRef` is cheap: it names a case and its label and knows how to load it. `CaseRef.load`
reads only the part of the data inside the requested window, so a day-long benchmark folder
need not be read whole. Labels live on the case, never on the records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rca_service.records import RecordBatch


@dataclass
class Case:
    """One fault-injection case with its telemetry.

    Attributes:
        name: unique within its folder, e.g. "<service>_cpu/1" or "<day>/<hour>-<service>-network_delay".
        system: the folder (benchmark system) the case came from.
        label_service: the service the fault was injected into (the ground truth).
        fault_type: the injected fault, as the dataset names it.
        inject_time: unix seconds (UTC) when the fault began.
        records: spans, metric points, logs and change events of the window, sorted by time.
            They never carry the label.
        start: unix seconds of the first second of the window.
        end: unix seconds just after the window.
        missing: files the layout expects for this window that are absent (relative paths).
        dependencies: (caller, callee) service edges from a dependency file, when one exists;
            empty means "derive topology from traces".
        metadata: anything else the layout records: the source path, the injected pod, and
            Nezha's root-cause hint (`root_cause_hint`, `root_cause_hint_kind` metric|logs,
            `root_cause_metric` as a normalised metric name).
    """

    name: str
    system: str
    label_service: str
    fault_type: str
    inject_time: float
    records: RecordBatch
    start: float
    end: float
    missing: list[str] = field(default_factory=list)
    dependencies: list[tuple[str, str]] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def services(self) -> list[str]:
        """Every service that appears in the records, sorted."""
        seen = {s.service for s in self.records.spans}
        seen.update(m.service for m in self.records.metrics)
        seen.update(lg.service for lg in self.records.logs)
        return sorted(seen)


Loader = Callable[["CaseRef", float | None, float | None], Case]


@dataclass
class CaseRef:
    """A case that is not loaded yet: its label, and how to load it.

    Attributes:
        name, system, label_service, fault_type, inject_time: as on `Case`.
        default_start: window start used when `load` gets no `start`.
        default_end: window end used when `load` gets no `end`.
    """

    name: str
    system: str
    label_service: str
    fault_type: str
    inject_time: float
    default_start: float | None
    default_end: float | None
    _loader: Loader = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def key(self) -> str:
        """The case's identity across datasets: its name and injection second. Names alone repeat
        (two simulator datasets of other seeds both hold an "api_cpu/1" of different systems)."""
        return f"{self.name}@{int(round(self.inject_time))}"

    def load(self, start: float | None = None, end: float | None = None) -> Case:
        """Read the case's telemetry in [start, end) (defaults: the adapter's window)."""
        return self._loader(
            self,
            self.default_start if start is None else start,
            self.default_end if end is None else end,
        )


def sort_batch(batch: RecordBatch) -> RecordBatch:
    """Sort every list of a batch by time in place and return it."""
    batch.spans.sort(key=lambda s: s.start)
    batch.metrics.sort(key=lambda m: m.time)
    batch.logs.sort(key=lambda lg: lg.time)
    batch.changes.sort(key=lambda c: c.time)
    return batch
