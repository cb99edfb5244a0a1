"""Generic naming rules: pod → service, metric column → metric name, severity words.

No system's service names appear here; the rules work on the shape of names only.
"""

from __future__ import annotations

import re

# Kubernetes pod names: <deployment>-<replicaset hash>-<pod hash>, or <statefulset>-<ordinal>,
# or <daemonset>-<pod hash>. Replica-set hashes are 5-10 chars of [a-z0-9] and pod hashes 5
# chars of [bcdfghjklmnpqrstvwxz2456789]; requiring a digit or length 9-10 keeps real words
# such as "-service" or "-db" in place.
_POD_HASH = r"[a-z0-9]{5}"
_RS_HASH = r"[a-z0-9]{6,10}"
_DEPLOY_POD = re.compile(rf"^(?P<svc>.+?)-(?P<rs>{_RS_HASH})-(?P<pod>{_POD_HASH})$")
_SINGLE_SUFFIX = re.compile(rf"^(?P<svc>.+?)-(?P<h>{_POD_HASH})$")


def _looks_like_hash(token: str) -> bool:
    return any(c.isdigit() for c in token) or not re.search(r"[aeiou]", token)


def service_from_pod(pod: str) -> str:
    """Strip replica-set and pod hash suffixes from a Kubernetes pod name.

    Examples: "checkout-578fcf4766-9csqn" → "checkout"; "api-gw-7b598fc7d-lmggd" → "api-gw";
    "cache-x2k9p" → "cache"; names without a hash-like suffix are returned unchanged.
    """
    pod = pod.strip()
    m = _DEPLOY_POD.match(pod)
    if m and _looks_like_hash(m.group("rs")):
        return m.group("svc")
    m = _SINGLE_SUFFIX.match(pod)
    if m and _looks_like_hash(m.group("h")):
        return m.group("svc")
    return pod


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_UNIT_WORDS = {"%": "pct"}


def normalize_metric_name(raw: str) -> str:
    """Lower snake case: "CpuUsageRate(%)" → "cpu_usage_rate_pct", "PodLatencyP90(s)" → "pod_latency_p90_s"."""
    name = raw.strip()
    for sym, word in _UNIT_WORDS.items():
        name = name.replace(sym, f"_{word}")
    name = _CAMEL.sub("_", name)
    name = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()
    return re.sub(r"_+", "_", name)


def split_component_column(column: str, known: set[str] | None = None) -> tuple[str, str]:
    """Split a "<component>_<metric>" column into (service, metric).

    The service is the part before the first "_" unless `known` names a longer prefix that
    is itself a service (for systems whose names contain underscores).
    """
    if known:
        best = ""
        for svc in known:
            if column.startswith(svc + "_") and len(svc) > len(best):
                best = svc
        if best:
            return best, column[len(best) + 1:]
    svc, _, metric = column.partition("_")
    return svc, metric


# OTLP severity numbers: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21.
_LEVELS = {
    "trace": 1, "debug": 5, "info": 9, "information": 9, "notice": 10, "warn": 13, "warning": 13,
    "error": 17, "err": 17, "exception": 17, "critical": 21, "fatal": 21, "panic": 21, "severe": 17,
}
# pino / bunyan numeric levels
_NUMERIC_LEVELS = {10: 1, 20: 5, 30: 9, 40: 13, 50: 17, 60: 21}
_LEVEL_WORD = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|FATAL|CRITICAL|SEVERE|PANIC)\b", re.I)


def severity_number(level: object) -> int:
    """OTLP severity number for a level word or pino-style number; 0 when unknown."""
    if level is None:
        return 0
    if isinstance(level, (int, float)) and not isinstance(level, bool):
        return _NUMERIC_LEVELS.get(int(level), 0)
    text = str(level).strip().lower()
    if text.isdigit():
        return _NUMERIC_LEVELS.get(int(text), 0)
    return _LEVELS.get(text, 0)


def severity_from_text(text: str, head: int = 64) -> tuple[int, str]:
    """Find a level word near the start of a plain-text log line: (number, word) or (0, "")."""
    m = _LEVEL_WORD.search(text[:head])
    if not m:
        return 0, ""
    word = m.group(1).upper()
    return severity_number(word), word
