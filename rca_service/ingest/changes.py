"""Change events derived from resource attributes (a new `service.version` is a deploy)."""

from __future__ import annotations

import threading
from typing import Any

from rca_service.records import ChangeEvent

#: Per service, how many distinct values of one key we remember (bounds memory).
MAX_VALUES_PER_KEY = 64
#: How many services we track at most; beyond that new services are not tracked.
MAX_SERVICES = 10_000


class ResourceChangeTracker:
    """Remembers the values of a few resource attributes per service and reports new ones.

    The first value seen for a service is its baseline, not a change. A later value never
    seen before for that service yields one ChangeEvent of kind "deploy". Values already seen
    do not, so the old and new versions alternating during a rolling update yield one event.
    Thread-safe: decoders run on several threads (HTTP and gRPC).
    """

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self._seen: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()

    def observe(self, service: str, resource: dict[str, Any], time: float) -> list[ChangeEvent]:
        """Record this resource's tracked values; return change events for new ones."""
        events: list[ChangeEvent] = []
        for key in self.keys:
            value = resource.get(key)
            if value is None or value == "":
                continue
            value = str(value)
            slot = (service, key)
            with self._lock:
                seen = self._seen.get(slot)
                if seen is None:
                    if len(self._seen) < MAX_SERVICES * max(1, len(self.keys)):
                        self._seen[slot] = {value}
                    continue
                if value in seen:
                    continue
                if len(seen) >= MAX_VALUES_PER_KEY:
                    seen.pop()
                previous = sorted(seen)
                seen.add(value)
            events.append(
                ChangeEvent(
                    service=service,
                    time=time,
                    kind="deploy",
                    description=f"{key} changed to {value} (seen before: {', '.join(previous)})",
                    attributes={"key": key, "value": value, "source": "resource"},
                )
            )
        return events
