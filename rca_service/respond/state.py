"""Remediations persisted as one JSON file, replaced atomically, so they survive a restart."""

from __future__ import annotations

import json
from pathlib import Path

from rca_service.audit.checkpoint import atomic_write
from rca_service.errors import ConfigError
from rca_service.respond.remediation import Remediation


class RemediationStore:
    """Keeps remediations by id and writes them all to `path` after every change.

    Args:
        path: the JSON file, e.g. ``<data_dir>/respond/remediations.json``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.items: dict[str, Remediation] = {}
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text("utf-8"))
                self.items = {d["id"]: Remediation.from_dict(d) for d in raw.get("remediations", [])}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"cannot read remediation state {self.path}: {exc}") from exc

    def save(self) -> None:
        """Write every remediation (temp file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": 1, "remediations": [r.to_dict() for r in self.items.values()]}
        atomic_write(self.path, json.dumps(data, sort_keys=True, indent=1).encode("utf-8"))
