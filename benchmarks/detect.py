"""Detector benchmark on the Nezha Online Boutique data, against n-sigma in the same run.

For each fault day of the folder:

- the day's longest fault-free period (construct_data, through the dataset adapter and the real
  TelemetryStore) is split: its first `--prime-hours` are the services' normal history
  (baselines and thresholds, `StreamingDetector.prime`), the rest is unseen fault-free data on
  which false incidents per hour are counted;
- the fault period (from 30 min before the first injection to 10 min after the last) is streamed
  step by step after priming; a fault counts as detected when an incident opens no earlier than
  one step before its injection and at most `--within` seconds after it (the delay is measured
  from the injection to the end of the step whose scoring opened the incident).

Since any incident opening near an injection counts, a detector that opens incidents often
"detects" faults by chance: `detected_by_chance` is the number a detector opening incidents at
random at its own fault-free rate would reach.

A fault that lands in a young incident is merged into it (one incident per burst of trouble), so
it opens nothing. `detected_or_grew` also counts a fault when, within `--within` seconds, an open
incident grew (`Incident.updates`: a service joined, or a member showed a new symptom; the service
then ranks it again). Faults come every ~8.5 minutes and their effects overlap, so incidents also
grow for other reasons: `grew_by_chance` is what the detector's own rate of growth outside every
fault's window would give.

Every detector sees exactly the same frames: the LSTM autoencoder, n-sigma with thresholds
calibrated the same way (POT on the primed history), and plain n-sigma (Gaussian threshold at
the same risk level). A speed check times streaming steps of a synthetic 50-service system
(`detect_step.py`).

Only metrics are fed: construct_data has no traces or logs, and most per-minute trace and log
files of the fault days are missing from the snapshot (MISSING_FROM_SNAPSHOT.txt), so those
signals would have no normal history and gaps that read as drops.

    .venv/bin/python benchmarks/detect.py [--path /tmp/ds] [--models-dir models] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rca_service.datasets import load_cases, load_normal  # noqa: E402
from rca_service.detect.calibration import CalibrationConfig  # noqa: E402
from rca_service.detect.detector_model import DetectorModel, load_detector  # noqa: E402
from rca_service.detect.nsigma import NSigmaConfig  # noqa: E402
from rca_service.detect.streaming import DetectConfig, StreamingDetector  # noqa: E402
from rca_service.records import MetricPoint  # noqa: E402
from rca_service.store.config import StoreConfig  # noqa: E402
from rca_service.store.telemetry import TelemetryStore  # noqa: E402

STEP = 60


@dataclass
class DayData:
    day: str
    faults: list[tuple[float, str, str]]  # (inject time, service, fault type)
    fault_metrics: list[MetricPoint]
    fault_range: tuple[float, float]
    normal_metrics: list[MetricPoint]
    prime_range: tuple[float, float]
    eval_range: tuple[float, float]


@dataclass
class Outcome:
    detected: int = 0
    right_service: int = 0
    delays: list[float] = field(default_factory=list)
    faults: int = 0
    blocked: int = 0  # an earlier incident still open at injection
    false_incidents: int = 0
    fault_free_hours: float = 0.0
    incidents_in_fault_period: int = 0
    by_type: dict[str, list[int]] = field(default_factory=dict)  # fault type -> [detected, faults]
    grew: int = 0  # not detected, but an open incident grew within the window
    growth_steps_outside: int = 0  # steps in which an incident grew, outside every fault's window
    seconds_outside: float = 0.0
    grew_chance: float = 0.0

    def row(self, within: float) -> dict:
        # A detector that opens incidents at random at its fault-free rate would still "detect"
        # this many faults: an incident opening in the window of a fault counts as detection.
        rate = self.false_incidents / max(self.fault_free_hours * 3600, 1e-9)
        chance = self.faults * (1 - math.exp(-rate * (within + STEP)))
        return {
            "detected_share": self.detected / max(1, self.faults),
            "detected": f"{self.detected}/{self.faults}",
            "with_right_service": self.right_service,
            "median_delay_s": statistics.median(self.delays) if self.delays else None,
            "blocked_by_open_incident": self.blocked,
            "false_incidents": self.false_incidents,
            "fault_free_hours": round(self.fault_free_hours, 2),
            "false_per_10h": 10 * self.false_incidents / max(self.fault_free_hours, 1e-9),
            "incidents_in_fault_period": self.incidents_in_fault_period,
            "detected_by_chance": round(chance, 1),
            "detected_by_fault_type": {k: f"{d}/{n}" for k, (d, n) in sorted(self.by_type.items())},
            "detected_or_grew": f"{self.detected + self.grew}/{self.faults}",
            "grew_per_hour_outside_fault_windows": 3600 * self.growth_steps_outside / max(self.seconds_outside, 1e-9),
            "grew_by_chance": round(self.grew_chance, 1),
        }


def _segments(batches, gap: float) -> list[list[MetricPoint]]:
    segs: list[list[MetricPoint]] = []
    last = None
    for b in batches:
        if not b.metrics:
            continue
        lo, hi = b.metrics[0].time, b.metrics[-1].time
        if last is None or lo > last + gap:
            segs.append([])
        segs[-1].extend(b.metrics)
        last = hi
    return segs


def load_days(path: Path, prime_hours: float) -> list[DayData]:
    refs = load_cases("nezha", path)
    by_day: dict[str, list] = {}
    for r in refs:
        by_day.setdefault(r.name.split("/")[0], []).append(r)
    normal = _segments(load_normal("nezha", path), 2 * STEP)
    days = []
    for day, rs in sorted(by_day.items()):
        inj = sorted(r.inject_time for r in rs)
        start, end = inj[0] - 1800, inj[-1] + 600
        case = rs[0].load(start, end)
        fm = case.records.metrics
        seg = max((s for s in normal if time.strftime("%Y-%m-%d", time.gmtime(s[0].time)) == day), key=len, default=None)
        if seg is None:
            continue
        a, b = seg[0].time, seg[-1].time
        a = float(np.floor(a / STEP) * STEP)
        split = a + prime_hours * 3600
        days.append(DayData(day, [(r.inject_time, r.label_service, r.fault_type) for r in sorted(rs, key=lambda r: r.inject_time)],
                            fm, (max(start, fm[0].time), end), seg, (a, split), (split, b)))
    return days


def _store(points: list[MetricPoint]) -> TelemetryStore:
    store = TelemetryStore(StoreConfig(step=STEP, retention_seconds=7 * 86400.0))
    for i in range(0, len(points), 20000):
        store.consume_metrics(points[i : i + 20000])
    store.close_until(max(p.time for p in points) + 2 * STEP)
    return store


def detects(inc, opened_at: float, inject: float, within: float) -> bool:
    """The benchmark's rule: an incident detects a fault when it starts no earlier than one step
    before the injection's step and opened (`opened_at`, the end of the step that opened it) at
    most `within` s after the injection."""
    return inc.start >= np.floor(inject / STEP) * STEP - STEP and opened_at - inject <= within


def open_before(inc, inject: float) -> bool:
    """The incident began more than a step before the injection and was still open at it."""
    return inc.start < inject - STEP and (inc.end is None or inc.end > inject)


def run_fault_period(d: DayData, model: DetectorModel | None, cfg: DetectConfig, within: float) -> Outcome:
    prime = [p for p in d.normal_metrics if d.prime_range[0] <= p.time < d.prime_range[1]]
    store = _store(prime + d.fault_metrics)
    det = StreamingDetector(store, cfg, model)
    det.prime(*d.prime_range)
    t0 = float(np.floor(d.fault_range[0] / STEP) * STEP)
    det.seek(t0)
    opened: list[tuple[float, object]] = []
    grew_at: list[float] = []  # when (step end) an open incident grew
    t = t0
    while t < d.fault_range[1]:
        for inc in det.step(now=t + STEP):
            opened.append((t + STEP, inc))
        if det.updated():
            grew_at.append(t + STEP)
        t += STEP
    out = Outcome(faults=len(d.faults), incidents_in_fault_period=len(opened))
    windows = [(np.floor(inject / STEP) * STEP, inject + within) for inject, _, _ in d.faults]
    outside = [at for at in np.arange(t0 + STEP, t + STEP, STEP) if not any(lo < at <= hi for lo, hi in windows)]
    out.seconds_outside = STEP * len(outside)
    out.growth_steps_outside = len(set(outside) & set(grew_at))
    rate = out.growth_steps_outside / max(out.seconds_outside, 1e-9)
    for inject, service, fault_type in d.faults:
        counts = out.by_type.setdefault(fault_type, [0, 0])
        counts[1] += 1
        hits = [(at, inc) for at, inc in opened if detects(inc, at, inject, within)]
        if any(open_before(inc, inject) for _, inc in opened):
            out.blocked += 1
        if hits:
            at, inc = hits[0]
            out.detected += 1
            counts[0] += 1
            out.delays.append(at - inject)
            out.right_service += service in inc.services
            continue
        out.grew += any(inject < at <= inject + within for at in grew_at)
        out.grew_chance += 1 - math.exp(-rate * within)
    return out


def run_fault_free(d: DayData, model: DetectorModel | None, cfg: DetectConfig) -> tuple[int, float]:
    store = _store(d.normal_metrics)
    det = StreamingDetector(store, cfg, model)
    det.prime(*d.prime_range)
    det.seek(d.eval_range[0])
    det.step(now=d.eval_range[1])
    return len(det.incidents()), (d.eval_range[1] - d.eval_range[0]) / 3600


def speed(models_dir: Path, steps: int = 60) -> dict:
    """One streaming step of a synthetic 50-service x 30-signal system (`detect_step.py`):
    median / p90 over `steps` steps, the shipped batched path against the previous per-service
    path and n-sigma in the same run."""
    from detect_step import run as time_steps

    return time_steps(models_dir, 50, 30, steps, 100 + steps)


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)  # one step's forward pass is small; a second thread only contends
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--path", type=Path, default=Path("/tmp/ds"))
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--version", default="latest")
    ap.add_argument("--prime-hours", type=float, default=4.0)
    ap.add_argument("--within", type=float, default=180.0, help="seconds after injection that count as detected")
    ap.add_argument("--risk", type=float, default=None, help="per-step risk (default: the service's DetectConfig)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    model = load_detector(args.models_dir, args.version)
    began = time.time()
    days = load_days(args.path, args.prime_hours)
    risk = DetectConfig().calibration.risk if args.risk is None else args.risk
    detectors = {
        "lstm_ae": (model, DetectConfig(calibration=CalibrationConfig(risk=risk))),
        "nsigma_calibrated": (None, DetectConfig(calibration=CalibrationConfig(risk=risk), nsigma=NSigmaConfig(risk=risk))),
        "nsigma_plain": (None, DetectConfig(calibration=CalibrationConfig(risk=risk, min_points=10**9, min_points_short=10**9),
                                            nsigma=NSigmaConfig(risk=risk))),
    }
    results = {}
    for name, (m, cfg) in detectors.items():
        total = Outcome()
        for d in days:
            o = run_fault_period(d, m, cfg, args.within)
            fp, hours = run_fault_free(d, m, cfg)
            total.faults += o.faults
            total.detected += o.detected
            total.right_service += o.right_service
            total.delays += o.delays
            total.blocked += o.blocked
            total.incidents_in_fault_period += o.incidents_in_fault_period
            total.false_incidents += fp
            for k, (hit, n) in o.by_type.items():
                total.by_type.setdefault(k, [0, 0])
                total.by_type[k][0] += hit
                total.by_type[k][1] += n
            total.fault_free_hours += hours
            total.grew += o.grew
            total.growth_steps_outside += o.growth_steps_outside
            total.seconds_outside += o.seconds_outside
            total.grew_chance += o.grew_chance
        results[name] = total.row(args.within)
    out = {
        "model": model.info(),
        "days": [d.day for d in days],
        "prime_hours": args.prime_hours,
        "within_s": args.within,
        "risk": risk,
        "incident_rules": {k: v for k, v in DetectConfig().to_dict().items() if k in ("open_steps", "open_window", "strong_factor",
                                                                                     "close_quiet_steps", "join_steps")},
        "results": results,
        "speed_50_services_one_step": speed(args.models_dir),
        "seconds": round(time.time() - began, 1),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"detector {model.version} on {', '.join(out['days'])} (prime {args.prime_hours} h, within {args.within:.0f} s)")
        print(f"{'detector':<20}{'detected':>10}{'share':>8}{'med delay':>11}{'false/10h':>11}{'FP':>5}{'hours':>8}{'right svc':>11}"
              f"{'by chance':>11}")
        for name, r in results.items():
            md = "-" if r["median_delay_s"] is None else f"{r['median_delay_s']:.0f}s"
            print(f"{name:<20}{r['detected']:>10}{r['detected_share']:>8.2f}{md:>11}{r['false_per_10h']:>11.2f}"
                  f"{r['false_incidents']:>5}{r['fault_free_hours']:>8.1f}{r['with_right_service']:>11}{r['detected_by_chance']:>11.1f}")
        for name, r in results.items():
            print(f"  {name} by fault type: " + ", ".join(f"{k} {v}" for k, v in r["detected_by_fault_type"].items()))
        for name, r in results.items():
            print(f"  {name} detected or grew: {r['detected_or_grew']} (by chance {r['grew_by_chance']:.1f} of the growths; "
                  f"incidents grew in {r['grew_per_hour_outside_fault_windows']:.1f} steps per hour outside fault windows)")
        sp = out["speed_50_services_one_step"]
        w = sp["wall"]
        b, p, n = w["batched"], w["per_service"], w["nsigma"]
        print(f"one step, 50 services x 30 signals, median / p90 over {sp['steps_timed']} steps: lstm_ae "
              f"{b['median_ms']:.1f} / {b['p90_ms']:.1f} ms, previous per-service path {p['median_ms']:.1f} / "
              f"{p['p90_ms']:.1f} ms, nsigma {n['median_ms']:.1f} / {n['p90_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
