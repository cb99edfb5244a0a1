"""Building the respond stage's config dataclasses from plain dicts (JSON, YAML, Settings)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rca_service.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any] | None) -> T:
    """Instantiate the dataclass `cls` from `data`, refusing keys it does not have.

    Lists are turned into tuples where the field's default is a tuple, so configs stay hashable
    and immutable. Validation is the dataclass's own `__post_init__`.

    Raises:
        ConfigError: unknown keys, or a value the config's validation refuses.
    """
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; known: {sorted(fields)}")
    for name, value in data.items():
        default = fields[name].default
        if isinstance(default, tuple) and isinstance(value, list):
            data[name] = tuple(value)
    try:
        return cls(**data)
    except TypeError as exc:
        raise ConfigError(f"{cls.__name__}: {exc}") from exc
