"""A read-only store over fixed frames, behind the store's read interface (store.api).

`close_until(t)` moves the closed-step watermark, so tests can stream step by step.
"""

from __future__ import annotations

import numpy as np

from rca_service.store.frames import WindowFrame


class FrameStore:
    """Implements the parts of `TelemetryStoreAPI` the detector reads."""

    def __init__(self, frames: list[WindowFrame], step: int = 60, changes: list | None = None) -> None:
        self.step = step
        self._frames = {f.service: f for f in frames}
        self._changes = list(changes or [])
        self._closed: float | None = None

    def close_until(self, t: float) -> None:
        """Steps that end at or before t are closed."""
        self._closed = float(np.floor(t / self.step) * self.step - self.step)

    def latest_closed_step(self) -> float | None:
        return self._closed

    def services(self) -> list[str]:
        return sorted(self._frames)

    def frame(self, service: str, start: float, end: float) -> WindowFrame:
        f = self._frames[service]
        hi = end if self._closed is None else min(end, self._closed + self.step)
        return f.slice(start, hi)

    def changes(self, service: str | None = None, start: float | None = None, end: float | None = None) -> list:
        """Change events (deploys) of a service in [start, end), as the real store answers."""
        return [c for c in self._changes if (service is None or c.service == service)
                and (start is None or c.time >= start) and (end is None or c.time < end)]
