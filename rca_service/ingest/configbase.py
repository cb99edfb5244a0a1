"""Building config dataclasses from plain mappings, refusing keys they do not have."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from rca_service.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """Create the dataclass `cls` from `data`; unknown keys raise ConfigError.

    A typo in an operator's config must fail loudly at start-up rather than be ignored.
    """
    data = dict(data or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return cls(**data)
    except TypeError as exc:  # a wrong type that the dataclass itself tripped over
        raise ConfigError(f"{cls.__name__}: {exc}") from exc
