"""Service-level ranking metrics of the RCA literature: AC@k and Avg@5."""

from __future__ import annotations

from collections import defaultdict


def label_rank(ranks: list[str], label: str) -> int | None:
    """1-based position of the label in a ranking, None when absent."""
    try:
        return ranks.index(label) + 1
    except ValueError:
        return None


def accuracy_at(ranked: list[tuple[list[str], str]], k: int) -> float:
    """AC@k: share of cases whose label is among the first k of their ranking."""
    if not ranked:
        return 0.0
    hits = 0
    for ranks, label in ranked:
        r = label_rank(ranks, label)
        hits += r is not None and r <= k
    return hits / len(ranked)


def summarize(ranked: list[tuple[list[str], str]]) -> dict[str, float]:
    """{"AC@1", "AC@3", "AC@5", "Avg@5", "n"}; Avg@5 is the mean of AC@1..AC@5."""
    acc = {k: accuracy_at(ranked, k) for k in range(1, 6)}
    return {"AC@1": acc[1], "AC@3": acc[3], "AC@5": acc[5], "Avg@5": sum(acc.values()) / 5, "n": len(ranked)}


def summarize_by(ranked: list[tuple[list[str], str]], groups: list[str]) -> dict[str, dict[str, float]]:
    """`summarize` per group (e.g. per fault type), groups sorted by name."""
    buckets: dict[str, list[tuple[list[str], str]]] = defaultdict(list)
    for item, g in zip(ranked, groups):
        buckets[g].append(item)
    return {g: summarize(buckets[g]) for g in sorted(buckets)}


def services_from_columns(columns: list[str]) -> list[str]:
    """Services in order of first appearance in a ranking of `<service>_<signal>` columns."""
    seen: list[str] = []
    for col in columns:
        svc = str(col).split("_", 1)[0]
        if svc and svc not in seen:
            seen.append(svc)
    return seen
