"""One rule for every config of the localize stage: build from a dict, refuse unknown keys."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from rca_service.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """`cls(**data)`, raising ConfigError for keys that are not fields of `cls`."""
    data = dict(data or {})
    unknown = sorted(set(data) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}")
    return cls(**data)
