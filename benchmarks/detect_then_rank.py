"""What a person sees three minutes after each Nezha fault: detection and root-cause ranking, live.

The data, priming and detector are `detect.py`'s (metrics only, LSTM autoencoder), but the fault
period is fed to the store step by step, so a ranking made at some time sees only the data that
had arrived by then, as in the running service. Each incident is ranked when it opens and, as the
service does, again each time it grows (`Incident.updates`).

For each fault the incident that covers it is the one `detect.py` counts (opened from one step
before the injection to `--within` s after it), else the newest incident open at the injection
(the fault was merged into it). Two answers are compared, in the same run:

- `ranked_again`: that incident's newest ranking made by `--within` s after the injection,
  re-ranks on growth included (the service now);
- `opening_only`: its ranking from when it opened (before incidents were ranked again).

A fault counts when the answer's first cause is the injected service. Faults that no incident
covers count as misses for both. Also counted: how many re-rankings on growth there were, and
how many changed the first cause (each such change is announced: the cost in messages).

    .venv/bin/python benchmarks/detect_then_rank.py [--path /tmp/ds] [--models-dir models] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from detect import STEP, DayData, _store, detects, load_days, open_before  # noqa: E402
from rca_service.detect.detector_model import load_detector  # noqa: E402
from rca_service.detect.streaming import DetectConfig, StreamingDetector  # noqa: E402
from rca_service.localize.ranker import load_localizer  # noqa: E402


def _top(result) -> str | None:
    return result.root_causes[0].service if result.root_causes else None


def run_day(d: DayData, detector_model, localizer, within: float) -> tuple[list[dict], dict[str, list]]:
    store = _store([p for p in d.normal_metrics if d.prime_range[0] <= p.time < d.prime_range[1]])
    det = StreamingDetector(store, DetectConfig(), detector_model)
    det.prime(*d.prime_range)
    fault = sorted(d.fault_metrics, key=lambda p: p.time)
    times = np.array([p.time for p in fault])
    t0 = float(np.floor(d.fault_range[0] / STEP) * STEP)
    det.seek(t0)
    rankings: dict[str, list[tuple[float, str, str | None]]] = {}  # incident -> (made at, why, top)
    opened_at: dict[str, float] = {}
    t = t0
    while t < d.fault_range[1]:
        lo, hi = np.searchsorted(times, [t, t + STEP])
        store.consume_metrics(fault[lo:hi])
        store.close_until(t + STEP)
        for inc in det.step(now=t + STEP):
            opened_at[inc.id] = t + STEP
            rankings[inc.id] = [(t + STEP, "opened", _top(localizer.rank(inc, store)))]
        for inc in det.updated():
            rankings[inc.id].append((t + STEP, "grew", _top(localizer.rank(inc, store))))
        t += STEP
    rows = []
    for inject, service, fault_type in d.faults:
        hits = [i for i, at in opened_at.items() if detects(det.get(i), at, inject, within)]
        merged = [i for i, at in opened_at.items() if at <= inject and open_before(det.get(i), inject)]
        covering = min(hits, key=opened_at.get) if hits else (max(merged, key=opened_at.get) if merged else None)
        made = [r for r in rankings.get(covering, []) if r[0] <= inject + within]
        rows.append({"day": d.day, "inject": inject, "service": service, "fault_type": fault_type,
                     "incident": covering, "how": "opened" if hits else ("merged" if merged else "none"),
                     "ranked_again": made[-1][2] if made else None,
                     "opening_only": made[0][2] if made else None})
    return rows, rankings


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--path", type=Path, default=Path("/tmp/ds"))
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--prime-hours", type=float, default=4.0)
    ap.add_argument("--within", type=float, default=180.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    began = time.time()
    detector_model = load_detector(args.models_dir, "latest")
    localizer = load_localizer(args.models_dir, "latest")
    rows, rankings = [], {}
    for d in load_days(args.path, args.prime_hours):
        day_rows, day_rankings = run_day(d, detector_model, localizer, args.within)
        rows += day_rows
        rankings.update(day_rankings)
    reranks = [(prev[2], now[2]) for made in rankings.values() for prev, now in zip(made, made[1:])]
    summary = {
        "faults": len(rows),
        "covered": {how: sum(r["how"] == how for r in rows) for how in ("opened", "merged", "none")},
        "top_is_injected": {k: sum(r[k] == r["service"] for r in rows) for k in ("ranked_again", "opening_only")},
        "merged_top_is_injected": {k: sum(r[k] == r["service"] for r in rows if r["how"] == "merged")
                                   for k in ("ranked_again", "opening_only")},
        "incidents": len(rankings),
        "reranks_on_growth": len(reranks),
        "reranks_that_changed_the_top": sum(a != b for a, b in reranks),
        "seconds": round(time.time() - began, 1),
    }
    if args.json:
        print(json.dumps({"summary": summary, "faults": rows}, indent=2))
        return 0
    for r in rows:
        stamp = time.strftime("%H:%M:%S", time.gmtime(r["inject"]))
        print(f"{r['day']} {stamp} {r['service']:<24}{r['fault_type']:<16}{r['how']:<8}"
              f"ranked again: {r['ranked_again'] or '-':<24}opening only: {r['opening_only'] or '-'}")
    n = summary["faults"]
    for k in ("ranked_again", "opening_only"):
        print(f"{k}: injected service first, {args.within:.0f} s after the fault: {summary['top_is_injected'][k]}/{n} "
              f"(of the {summary['covered']['merged']} merged into an open incident: {summary['merged_top_is_injected'][k]})")
    print(f"covered: {summary['covered']}; {summary['incidents']} incidents ranked again {summary['reranks_on_growth']} "
          f"times on growth, {summary['reranks_that_changed_the_top']} of which changed the first cause; {summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
