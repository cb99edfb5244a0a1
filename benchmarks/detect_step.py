"""Step time of streaming detection: every service of a synthetic system, one step at a time.

Three detectors score the same store, step after step, taking turns within each step (so a
burst of load on the shared machine hits all three alike):

- `batched`: the shipped `StreamingDetector` (all autoencoder services in one batched pass,
  `step_scoring.score_windows` + `lstm_ae.last_step_forward`);
- `per_service`: the previous hot path (`tests/detect/legacy_step.py`: each service encoded on
  its own, the module's own LSTM forward pass), as the baseline;
- `nsigma`: the same detector without a model (every service on robust n-sigma).

Each step is timed in wall-clock and in this process's CPU time (less sensitive to other
processes on a shared machine). The store's part is timed too (reading every service's newest
step). Every step, the batched detector's scores are compared with the per-service path's; the run
stops if they disagree on which services are anomalous.

    .venv/bin/python benchmarks/detect_step.py [--services 50] [--signals 30] [--steps 120]
        [--history 300] [--threads 1] [--json]
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
sys.path.insert(0, str(REPO / "tests" / "detect"))

from legacy_step import LegacyStreamingDetector  # noqa: E402

from rca_service.detect.detector_model import load_detector  # noqa: E402
from rca_service.detect.streaming import DetectConfig, StreamingDetector  # noqa: E402
from rca_service.records import MetricPoint  # noqa: E402
from rca_service.store.config import StoreConfig  # noqa: E402
from rca_service.store.telemetry import TelemetryStore  # noqa: E402

STEP = 60
T0 = 1_700_000_040
PRIME_STEPS = 80


def synthetic_store(services: int, signals: int, steps: int, seed: int = 0) -> TelemetryStore:
    """A store with `steps` minutes of `services` x `signals` gauges (noise around a level), and
    one service's first signal jumping 30x in the last quarter (so some steps are anomalous)."""
    rng = np.random.default_rng(seed)
    store = TelemetryStore(StoreConfig(step=STEP, retention_seconds=(steps + 10) * STEP))
    fault_at = steps - steps // 4
    for s in range(services):
        pts = []
        for k in range(signals):
            vals = rng.uniform(1, 1000) * (1 + 0.05 * rng.standard_normal(steps))
            if s == 0 and k == 0:
                vals[fault_at:] *= 30
            name = f"metric_{k}_cpu" if k % 3 == 0 else f"metric_{k}"
            pts += [MetricPoint(f"svc-{s:02d}", name, T0 + i * STEP + 5, float(v)) for i, v in enumerate(vals)]
        store.consume_metrics(pts)
    store.close_until(T0 + (steps + 2) * STEP)
    return store


def _stats(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"median_ms": round(float(np.median(a)), 2), "p90_ms": round(float(np.percentile(a, 90)), 2),
            "mean_ms": round(float(a.mean()), 2), "max_ms": round(float(a.max()), 1)}


def run(models_dir: Path, services: int, signals: int, steps: int, history: int) -> dict:
    """Time `steps` streaming steps of each detector after priming on the first 80 steps.

    The scored steps are the last `steps` of a store holding `history` steps in all (a longer
    history is a fuller store, as in a service that has been running for a while).
    """
    if history < PRIME_STEPS + steps:
        raise SystemExit(f"--history must be at least {PRIME_STEPS} + --steps")
    model = load_detector(models_dir)
    store = synthetic_store(services, signals, history)
    first = history - steps
    config = DetectConfig(lookback_steps=0)
    detectors = {"batched": StreamingDetector(store, config, model),
                 "per_service": LegacyStreamingDetector(store, config, model),
                 "nsigma": StreamingDetector(store, config, None)}
    for det in detectors.values():
        det.prime(T0 + (first - PRIME_STEPS) * STEP, T0 + first * STEP)
        det.seek(T0 + first * STEP)
    wall: dict[str, list[float]] = {name: [] for name in detectors}
    cpu: dict[str, list[float]] = {name: [] for name in detectors}
    reads, worst_raw, worst_thr, anomalous = [], 0.0, 0.0, 0
    names = list(detectors)
    for i in range(steps):
        now = T0 + (first + i + 1) * STEP
        for name in names[i % 3:] + names[: i % 3]:  # take turns at going first
            w0, c0 = time.perf_counter(), time.process_time()
            detectors[name].step(now=now)
            cpu[name].append(1000 * (time.process_time() - c0))
            wall[name].append(1000 * (time.perf_counter() - w0))
        began = time.perf_counter()
        for svc in store.services():
            store.frame(svc, now - STEP, now)
        reads.append(1000 * (time.perf_counter() - began))
        new, old = detectors["batched"].latest_scores(), detectors["per_service"].latest_scores()
        if new.keys() != old.keys() or any(new[s].anomalous != old[s].anomalous for s in new):
            raise SystemExit(f"step {i}: the batched and per-service paths disagree on which services are anomalous")
        worst_raw = max([worst_raw] + [abs(new[s].raw - old[s].raw) / max(abs(old[s].raw), 1e-9) for s in new])
        worst_thr = max([worst_thr] + [abs(new[s].threshold - old[s].threshold) / old[s].threshold for s in new])
        anomalous += sum(s.anomalous for s in new.values())
    same_incidents = ([(i.id, i.start, i.end, list(i.services)) for i in detectors["batched"].incidents()]
                      == [(i.id, i.start, i.end, list(i.services)) for i in detectors["per_service"].incidents()])
    return {
        "system": f"{services} services x {signals} signals",
        "steps_timed": steps,
        "store_steps": history,
        "model": model.info(),
        "wall": {name: _stats(v) for name, v in wall.items()},
        "cpu": {name: _stats(v) for name, v in cpu.items()},
        "store_reads_wall": _stats(reads),
        "ratio_median_wall_batched_over_per_service": round(np.median(wall["batched"]) / np.median(wall["per_service"]), 3),
        "ratio_median_cpu_batched_over_per_service": round(np.median(cpu["batched"]) / np.median(cpu["per_service"]), 3),
        "ratio_median_wall_batched_over_nsigma": round(np.median(wall["batched"]) / np.median(wall["nsigma"]), 3),
        # raw: the reconstruction path itself; thresholds: refitted (POT) from the normal errors
        # each path kept, so they move within the fit's tolerance
        "max_relative_raw_score_difference": float(worst_raw),
        "max_relative_threshold_difference": float(worst_thr),
        "anomalous_service_steps": anomalous,
        "same_incidents": same_incidents,
    }


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--signals", type=int, default=30)
    ap.add_argument("--steps", type=int, default=120, help="steps timed")
    ap.add_argument("--history", type=int, default=300, help="steps in the store")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = run(args.models_dir, args.services, args.signals, args.steps, args.history)
    out["torch_threads"] = args.threads
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{out['system']}, {out['steps_timed']} steps timed, store of {out['store_steps']} steps, "
          f"{args.threads} torch thread(s)")
    print(f"{'detector':<14}{'wall median':>12}{'p90':>8}{'cpu median':>12}{'p90':>8}{'max wall':>10}")
    for name in out["wall"]:
        w, c = out["wall"][name], out["cpu"][name]
        print(f"{name:<14}{w['median_ms']:>12.1f}{w['p90_ms']:>8.1f}{c['median_ms']:>12.1f}{c['p90_ms']:>8.1f}{w['max_ms']:>10.0f}")
    r = out["store_reads_wall"]
    print(f"store reads (newest step of every service): median {r['median_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms")
    print(f"batched / per-service: wall {out['ratio_median_wall_batched_over_per_service']:.2f}, "
          f"cpu {out['ratio_median_cpu_batched_over_per_service']:.2f}; batched / nsigma: wall "
          f"{out['ratio_median_wall_batched_over_nsigma']:.2f}")
    print(f"batched vs per-service: raw scores differ by at most {out['max_relative_raw_score_difference']:.1e} "
          f"(relative), refitted thresholds by {out['max_relative_threshold_difference']:.1e}; same anomalous "
          f"services every step ({out['anomalous_service_steps']} anomalous service-steps); same incidents: "
          f"{out['same_incidents']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
