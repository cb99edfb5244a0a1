"""Canonical JSON: one rendering per value, refusals for what JSON cannot say exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rca_service.audit.canonical import canonical_json, normalize
from rca_service.errors import AuditError


def test_keys_sorted_and_compact():
    assert canonical_json({"b": 1, "a": [1, 2], "c": {"z": None, "y": True}}) == '{"a":[1,2],"b":1,"c":{"y":true,"z":null}}'


@pytest.mark.parametrize("value, text", [(1.0, "1"), (-0.0, "0"), (0.1, "0.1"), (1e300, "1e+300"), (2.5, "2.5"),
                                         (np.float32(0.5), "0.5"), (np.int64(7), "7")])
def test_floats_rendered_one_way(value, text):
    assert canonical_json(value) == text


def test_round_trip_is_stable():
    value = {"t": 1795800000.123456, "x": [0.1, 3.0, "é"], "n": -12}
    once = canonical_json(value)
    assert canonical_json(normalize(value)) == once


@pytest.mark.parametrize("bad", [math.nan, math.inf, {1: "a"}, {"s": {1, 2}}, b"bytes"])
def test_refuses_what_json_cannot_say(bad):
    with pytest.raises(AuditError):
        canonical_json(bad)
