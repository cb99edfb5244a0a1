"""Dataset mode: labelled cases in the RCAEval multi-source layout, over many random systems.

    <out>/<service>_<fault>/<n>/inject_time.txt    unix seconds (integer) the fault began
                               metrics.csv          time + <service>_<metric> columns (one row per step)
                               traces.csv           RCAEval trace columns (+ spanKind, peerService, statusMessage)
                               logs.csv             time, timestamp, container_name, level, message, trace_id,
                                                    span_id, attributes (JSON)
                               topology.json        {"services": {name: tier}, "edges": [[caller, callee], ...]}
    <out>/cases.json                                one entry per case: name, label, fault, seed, n_services

Simulated time only: no SDK, no sleeping. `rca_service.datasets.load_cases("sim", out)` reads it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rca_service.datasets.config import config_from_dict
from rca_service.errors import ConfigError
from rca_service.records import RecordBatch
from rca_service.simulator.config import FaultKind, SimConfig
from rca_service.simulator.engine import Simulation

log = logging.getLogger(__name__)

TRACE_COLUMNS = ["time", "traceID", "spanID", "parentSpanID", "serviceName", "operationName", "methodName",
                 "startTime", "duration", "statusCode", "spanKind", "peerService", "statusMessage"]
LOG_COLUMNS = ["time", "timestamp", "container_name", "level", "message", "trace_id", "span_id", "attributes"]


@dataclass
class DatasetConfig:
    """What `write_dataset` generates.

    Attributes:
        cases: number of cases.
        seed: base seed; case i uses its own topology seed derived from it.
        min_services, max_services: topology size range (inclusive).
        steps: steps per case.
        step_s: seconds per step.
        inject_min_step, inject_max_step: the fault starts in this step range (inclusive).
        kinds: fault kinds to cycle through (balanced over cases).
        traces_per_step, logs_per_step: sampling density (see SimConfig).
        base_time: simulated unix time of the first case's start; cases are spread over days.
    """

    cases: int = 10
    seed: int = 1
    min_services: int = 10
    max_services: int = 40
    steps: int = 40
    step_s: float = 60.0
    inject_min_step: int = 20
    inject_max_step: int = 28
    kinds: tuple[str, ...] = tuple(k.value for k in FaultKind)
    traces_per_step: int = 8
    logs_per_step: int = 4
    base_time: float = 1_700_000_000.0

    def __post_init__(self) -> None:
        if self.cases < 1:
            raise ConfigError("DatasetConfig.cases must be >= 1")
        if not 3 <= self.min_services <= self.max_services:
            raise ConfigError("DatasetConfig: need 3 <= min_services <= max_services")
        if not 0 < self.inject_min_step <= self.inject_max_step < self.steps:
            raise ConfigError("DatasetConfig: need 0 < inject_min_step <= inject_max_step < steps")
        self.kinds = tuple(FaultKind.parse(k).value for k in self.kinds)
        if not self.kinds:
            raise ConfigError("DatasetConfig.kinds must not be empty")

    @classmethod
    def from_dict(cls, data: dict | None) -> DatasetConfig:
        return config_from_dict(cls, data)


def _eligible(sim: Simulation, kind: FaultKind) -> list[str]:
    """Services a fault of this kind can sensibly hit (no code deploys to a database)."""
    tiers = {"deploy": ("entry", "mid"), "errors": ("entry", "mid", "data")}.get(kind.value, ("entry", "mid", "data"))
    return [s for s in sim.services if sim.topology.services[s].tier in tiers]


def _metrics_frame(batches: list[RecordBatch]) -> pd.DataFrame:
    rows: dict[float, dict[str, float]] = {}
    for b in batches:
        for m in b.metrics:
            rows.setdefault(m.time, {})[f"{m.service}_{m.name}"] = m.value
    df = pd.DataFrame.from_dict(rows, orient="index").sort_index()
    df.index.name = "time"
    df = df.reset_index()
    df["time"] = df["time"].astype(np.int64)
    return df


def _traces_frame(batches: list[RecordBatch]) -> pd.DataFrame:
    rows = [
        (int(s.start), s.trace_id, s.span_id, s.parent_span_id or "", s.service, s.name, s.name,
         int(round(s.start * 1e6)), int(round(s.duration * 1e6)), int(s.status), s.kind.name,
         s.peer_service or "", s.status_message)
        for b in batches for s in b.spans
    ]
    return pd.DataFrame(rows, columns=TRACE_COLUMNS)


def _logs_frame(batches: list[RecordBatch]) -> pd.DataFrame:
    rows = [
        (round(lg.time, 6), int(round(lg.time * 1e9)), lg.service, lg.severity_text, lg.body,
         lg.trace_id or "", lg.span_id or "", json.dumps(lg.attributes, sort_keys=True) if lg.attributes else "")
        for b in batches for lg in b.logs
    ]
    return pd.DataFrame(rows, columns=LOG_COLUMNS)


def generate_case(cfg: DatasetConfig, index: int) -> tuple[dict, list[RecordBatch], Simulation]:
    """Simulate case `index`: returns (manifest entry, batches, simulation)."""
    rng = np.random.default_rng([cfg.seed, 7, index])
    n = int(rng.integers(cfg.min_services, cfg.max_services + 1))
    case_seed = int(cfg.seed * 100_003 + index)
    start = cfg.base_time + index * 86400.0 + float(rng.integers(0, 86400 // int(cfg.step_s))) * cfg.step_s
    sim = Simulation(SimConfig(n_services=n, seed=case_seed, step_s=cfg.step_s, start_time=start,
                               traces_per_step=cfg.traces_per_step, logs_per_step=cfg.logs_per_step))
    kind = FaultKind(cfg.kinds[index % len(cfg.kinds)])
    service = str(rng.choice(_eligible(sim, kind)))
    at = (int(rng.integers(cfg.inject_min_step, cfg.inject_max_step + 1)) + float(rng.uniform(0, 0.5))) * cfg.step_s
    at = float(int(at))  # inject_time.txt holds whole seconds
    fault = sim.inject(kind, service, at=at)
    batches = [sim.tick() for _ in range(cfg.steps)]
    entry = {"label_service": service, "fault_type": kind.value, "inject_time": int(fault.start),
             "seed": case_seed, "n_services": n, "start": start, "end": start + cfg.steps * cfg.step_s}
    return entry, batches, sim


def write_case(folder: Path, entry: dict, batches: list[RecordBatch], sim: Simulation) -> None:
    """Write one case folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inject_time.txt").write_text(f"{entry['inject_time']}\n")
    _metrics_frame(batches).to_csv(folder / "metrics.csv", index=False)
    _traces_frame(batches).to_csv(folder / "traces.csv", index=False)
    _logs_frame(batches).to_csv(folder / "logs.csv", index=False)
    topo = {"services": {s: sim.topology.services[s].tier for s in sim.services},
            "edges": [list(e) for e in sim.topology.edges]}
    (folder / "topology.json").write_text(json.dumps(topo, indent=1))


def write_dataset(out: Path, config: DatasetConfig | None = None, progress: bool = False) -> list[dict]:
    """Write `config.cases` labelled cases under `out`; returns the manifest (also cases.json)."""
    cfg = config or DatasetConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counters: dict[str, int] = {}
    manifest = []
    it = range(cfg.cases)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="cases", unit="case")
    for i in it:
        entry, batches, sim = generate_case(cfg, i)
        group = f"{entry['label_service']}_{entry['fault_type']}"
        counters[group] = counters.get(group, 0) + 1
        name = f"{group}/{counters[group]}"
        write_case(out / group / str(counters[group]), entry, batches, sim)
        manifest.append({"name": name, **entry})
    (out / "cases.json").write_text(json.dumps(manifest, indent=1))
    log.info("wrote %d cases to %s", len(manifest), out)
    return manifest


def with_cases(cfg: DatasetConfig, cases: int, seed: int | None = None) -> DatasetConfig:
    """A copy of `cfg` with another case count (and seed)."""
    return replace(cfg, cases=cases, seed=cfg.seed if seed is None else seed)
