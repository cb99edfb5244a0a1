"""Root-cause accuracy on the benchmark datasets, next to BARO and NSigma, and ranking speed.

Runs the same path as `rca-service eval` (adapter → fresh store → detector → localizer) on
Nezha (both days) and Sock Shop, with rcaeval's BARO and NSigma on the same windows in the same
run, and prints AC@1/3/5 and Avg@5 per dataset and per fault type. Then times ranking one
incident in a synthetic 50-service topology with an hour of history, against BARO on the same
windows (a ratio measured in the same run).

Figures are held-out. Where the shipped model was fine-tuned on a dataset's own labels (its
meta lists the cases; see `rca-service train localizer --init`), that dataset is
cross-validated instead: the version it was fine-tuned from (which never saw them) is
fine-tuned with the same recipe on the other folds (Nezha: the other day) and ranks each fold,
and the base version's own figures on the same graphs are printed beside them.

Usage:
    .venv/bin/python benchmarks/rca_accuracy.py [--nezha DIR] [--sockshop DIR] [--sim DIR] [--datasets sockshop,nezha,sim]
        [--limit N] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rca_service.datasets import load_cases  # noqa: E402
from rca_service.localize.evaluate import (evaluate, evaluate_cross_validated, format_report, recipe_folders,  # noqa: E402
                                          seen_labels)
from rca_service.localize.finetune import FineTuneConfig  # noqa: E402
from rca_service.localize.ranker import load_localizer  # noqa: E402
from rca_service.localize.synthetic import SyntheticConfig, SyntheticIncidents  # noqa: E402


def _default(path: str) -> Path | None:
    p = Path(path)
    return p if p.exists() else None


def _recipe_folders_here(folders: dict) -> dict:
    """The recipe's folders (role → {"format", "path"}) that are on this machine; a missing one
    is left out of the cross-validation, which says so."""
    here = {}
    for role, rec in folders.items():
        if Path(rec["path"]).exists():
            here[role] = rec
        else:
            print(f"warning: the recipe's {role} folder {rec['path']} is not here; cross-validating without it")
    return here


def speed(localizer, repeats: int = 5) -> dict:
    """Median seconds to rank one incident in a 50-service system with an hour of 60 s history,
    and BARO's median on the same windows."""
    from RCAEval.e2e.baro import baro

    gen = SyntheticIncidents(SyntheticConfig(min_services=50, max_services=50, steps=((60, 60, 5),), p_spans=1.0, p_logs=1.0), seed=11)
    case = gen.case("latency")
    ours, theirs = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        localizer.rank(case.incident, case.store)
        ours.append(time.perf_counter() - t)
    cols = {}
    for svc in case.store.services():
        fr = case.store.frame(svc, case.store.times[0], case.store.times[-1] + 1)
        for j, sig in enumerate(fr.signals):
            cols[f"{svc.replace('_', '-')}_{sig}"] = fr.values[:, j]
    df = pd.DataFrame(cols).ffill().bfill().fillna(0.0)
    df.insert(0, "time", case.store.times[: len(df)].astype(float))
    for _ in range(repeats):
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            baro(df, case.incident.start, dataset="synthetic")
        theirs.append(time.perf_counter() - t)
    o, b = float(np.median(ours)), float(np.median(theirs))
    return {"services": 50, "history_steps": 60, "rank_seconds": o, "baro_seconds": b, "ratio_vs_baro": o / b}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nezha", type=Path, default=_default("/tmp/ds"))
    p.add_argument("--sockshop", type=Path, default=_default("/tmp/ds/RE1-SS-rcd"))
    p.add_argument("--sim", type=Path, default=None,
                   help="a simulator dataset (rca-service simulate --write-dataset DIR --cases N --seed S) with a "
                        "seed the shipped model was not trained or calibrated on (see its card)")
    p.add_argument("--models-dir", type=Path, default=REPO / "models")
    p.add_argument("--datasets", default="sockshop,nezha,sim", help="comma-separated subset of sockshop,nezha,sim to run")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--json-out", type=Path, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    localizer = load_localizer(args.models_dir, "latest")
    print(f"localizer {localizer.version} (trained on: {localizer.artifacts.meta.get('source', '?')})")
    results: dict = {"model": localizer.model_info()}
    for name, fmt, path in (("sockshop", "rcaeval", args.sockshop), ("nezha", "nezha", args.nezha), ("sim", "sim", args.sim)):
        if path is None or name not in args.datasets.split(","):
            print(f"\n== {name}: {'not asked for' if path else 'no folder given'}, skipped")
            continue
        t = time.time()
        if seen_labels(localizer, fmt, load_cases(fmt, path)[: args.limit]):
            meta = localizer.artifacts.meta
            base = load_localizer(args.models_dir, meta["init"]["version"])
            print(f"\n{localizer.version} saw {name}'s labels: cross-validating its base {base.version} fine-tuned the same way")
            folders = {r: f for r, f in meta.get("finetune_folders", {}).items() if r in ("replay", "calibrate")}
            replay, calibration = recipe_folders(base, _recipe_folders_here(folders), args.models_dir)
            rep = evaluate_cross_validated(fmt, path, base, FineTuneConfig.from_dict(meta["finetune"]), limit=args.limit,
                                           baselines=not args.no_baselines, models_dir=args.models_dir, replay=replay,
                                           calibration=calibration)
        else:
            rep = evaluate(fmt, path, localizer, limit=args.limit, baselines=not args.no_baselines, models_dir=args.models_dir)
        print(f"\n== {name} ({len(rep['cases'])} cases, {time.time() - t:.0f} s)\n{format_report(rep)}")
        results[name] = rep
    if not args.skip_speed:
        s = speed(localizer)
        results["speed"] = s
        print(f"\n== speed: rank one incident, {s['services']} services, {s['history_steps']} steps of history: "
              f"{s['rank_seconds'] * 1000:.0f} ms (BARO on the same windows {s['baro_seconds'] * 1000:.0f} ms, "
              f"ratio {s['ratio_vs_baro']:.2f})")
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
