"""Log message templates: what services say in normal operation and under each fault."""

from __future__ import annotations

import random

INFO = [
    "request completed method={method} status=200 duration_ms={ms}",
    "fetched {n} records from upstream in {ms} ms",
    "cache hit ratio {ratio} over last {n} lookups",
    "handled {op} for tenant {tenant}",
    "connection pool stats active={n} idle={m}",
]
WARN_SLOW = "slow request {op} took {ms} ms (threshold 500 ms)"
WARN_GC = "GC pause of {ms} ms, heap usage {pct}%"
WARN_RETRY = "retrying call to {peer} after timeout ({ms} ms), attempt {n}"
WARN_CPU = "worker saturation: {n} requests queued, cpu throttled"
TRANSIENT = [
    "connection reset by peer, reconnecting to {peer}",
    "config reload took {ms} ms",
    "slow disk write ({ms} ms) on log rotation",
]
EXCEPTIONS = [
    "java.lang.IllegalStateException: invalid state for order {id} at Handler.process(Handler.java:{line})",
    "ValueError: cannot parse payload field 'amount' for request {id}",
    "NullPointerException in {op} while building response",
    "unhandled exception in {op}: KeyError '{key}'",
]
DEPLOY_ERRORS = [
    "TypeError: undefined is not a function in {op} (build {version})",
    "schema mismatch after upgrade to {version}: column '{key}' not found",
]
OOM = [
    "java.lang.OutOfMemoryError: Java heap space in {op}",
    "memory limit reached ({pct}% of limit), request {id} rejected",
]
CALL_FAILED = "call to {peer} failed: {reason}"
DEPLOY = "deployed version {version} (previous {previous})"
ROLLBACK = "rolled back to version {version} (from {previous})"
RESTART = "service restarted, version {version}"
SCALE = "scaled to {replicas} replicas"


def _fill(rng: random.Random, template: str, **known) -> str:
    values = {
        "method": rng.choice(("GET", "POST", "PUT")), "ms": rng.randrange(3, 120),
        "n": rng.randrange(1, 50), "m": rng.randrange(1, 20), "ratio": round(rng.uniform(0.6, 0.99), 2),
        "op": "handler", "tenant": f"t{rng.randrange(1, 40)}", "id": f"{rng.getrandbits(32):08x}",
        "line": rng.randrange(40, 400), "key": rng.choice(("user_id", "sku", "amount", "region")),
        "pct": rng.randrange(90, 99), "version": "", "previous": "", "peer": "", "reason": "timeout",
        "replicas": 1,
    }
    values.update(known)
    return template.format(**values)


def info_message(rng: random.Random, op: str) -> str:
    return _fill(rng, rng.choice(INFO), op=op)


def error_message(rng: random.Random, service: str, style: str, op: str = "handler", version: str = "") -> str:
    """An error line in the style of the fault behind it."""
    if style == "deploy":
        pool = DEPLOY_ERRORS
    elif style == "oom":
        pool = OOM
    else:
        pool = EXCEPTIONS
    return _fill(rng, rng.choice(pool), op=op, version=version or "unknown")


def fill(rng: random.Random, template: str, **known) -> str:
    """A template with random values for the fields not given."""
    return _fill(rng, template, **known)
