"""Change events: those ingest hands over, and deploys derived from resource version changes.

Ingest may derive the same deploy from the same resource (its events carry attributes
`source="resource"`, `key`, `value`); each (service, attribute, new value) is announced once,
whichever side saw it first.
"""

from __future__ import annotations

from rca_service.records import ChangeEvent
from rca_service.store.windows import StepTable

# Resource attributes whose change means a new deployment of the service.
VERSION_ATTRIBUTES = ("service.version", "k8s.deployment.revision", "deployment.revision")
MAX_VERSIONS = 8
MAX_ANNOUNCED = 10_000


class ChangeTracker:
    """Records change events per step and derives deploys from version attributes.

    Args:
        table: where per-step accumulators (and their change lists) live.
    """

    def __init__(self, table: StepTable) -> None:
        self.table = table
        # service -> versions seen, newest last; a version not among them is a deploy (instances
        # of two versions running side by side, as in a canary, do not flap)
        self.versions: dict[str, list[tuple]] = {}
        self.resources: dict[str, dict] = {}  # service -> latest resource attributes seen
        self.announced: dict[tuple[str, str, str], None] = {}  # (service, attribute, value), ordered
        self.duplicates = 0

    def _announce(self, keys: list[tuple[str, str, str]]) -> bool:
        """Mark version values as announced; False when every one of them already was."""
        fresh = [k for k in keys if k not in self.announced]
        for k in fresh:
            self.announced[k] = None
        if len(self.announced) > MAX_ANNOUNCED:
            for k in list(self.announced)[: MAX_ANNOUNCED // 10]:
                del self.announced[k]
        return bool(fresh) or not keys

    def add(self, events: list[ChangeEvent], lo: float, hi: float) -> tuple[int, float]:
        """Store events with lo <= time <= hi; return (events dropped, newest time stored)."""
        dropped = 0
        newest = float("-inf")
        for ev in events:
            if ev.time < lo or ev.time > hi:
                dropped += 1
                continue
            if (ev.attributes.get("source") == "resource" and ev.attributes.get("key")
                    and not self._announce([(ev.service, str(ev.attributes["key"]), str(ev.attributes.get("value")))])):
                self.duplicates += 1
                continue
            newest = max(newest, ev.time)
            st = self.table.align(ev.time)
            self.table.bucket(ev.service, st).n_changes += 1
            self.table.get(st).changes.append(ev)
        return dropped, newest

    def observe(self, service: str, resource: dict, t: float) -> None:
        """Look at one resource of `service` seen at time t; emit a deploy when its version moved."""
        self.resources[service] = dict(resource)
        version = tuple(resource.get(k) for k in VERSION_ATTRIBUTES)
        if not any(v is not None for v in version):
            return
        seen = self.versions.get(service)
        if seen is None:
            self.versions[service] = [version]  # first sight: where we start from, not a change
            return
        if version in seen:
            return
        prev = seen[-1]
        seen.append(version)
        del seen[:-MAX_VERSIONS]
        before = {k: v for k, v in zip(VERSION_ATTRIBUTES, prev) if v is not None}
        after = {k: v for k, v in zip(VERSION_ATTRIBUTES, version) if v is not None}
        moved = [k for k in VERSION_ATTRIBUTES if before.get(k) != after.get(k)]
        if not self._announce([(service, k, str(after.get(k))) for k in moved]):
            return  # ingest already reported this deploy
        desc = ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in moved)
        ev = ChangeEvent(service, t, "deploy", desc, {"before": before, "after": after, "derived": True})
        st = self.table.align(t)
        self.table.bucket(service, st).n_changes += 1
        self.table.get(st).changes.append(ev)

    def forget(self, services_alive: set[str]) -> None:
        """Drop the version and resource memory of services no longer held (retention)."""
        self.versions = {s: v for s, v in self.versions.items() if s in services_alive}
        self.resources = {s: r for s, r in self.resources.items() if s in services_alive}

    def query(self, service: str | None, start: float | None, end: float | None) -> list[ChangeEvent]:
        lo = float("-inf") if start is None else start
        hi = float("inf") if end is None else end
        out = [ev for sd in self.table.range(None, None) for ev in sd.changes
               if (service is None or ev.service == service) and lo <= ev.time < hi]
        return sorted(out, key=lambda e: e.time)
