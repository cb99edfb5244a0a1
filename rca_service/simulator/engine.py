"""The simulation: a generated system, its faults, and a deterministic record generator.

`Simulation.tick()` produces the records of one step. Each step draws from its own random
stream (seeded by the config seed and the step index), so a step's records depend only on
the seed, the step and the faults in force — the same in dataset mode, live mode and tests.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Callable, Iterator

import numpy as np

from rca_service.errors import ConfigError, NotFoundError
from rca_service.records import ChangeEvent, LogRecord, RecordBatch
from rca_service.simulator import templates as tpl
from rca_service.simulator.config import FaultKind, SimConfig
from rca_service.simulator.faults import Fault
from rca_service.simulator.model import StepModel, compute_step
from rca_service.simulator.telemetry import SEVERITY, step_logs, step_metrics
from rca_service.simulator.topology import Topology, generate_topology
from rca_service.simulator.traces import step_traces

# what each control action removes
RESTART_CLEARS = {FaultKind.MEMORY, FaultKind.CPU, FaultKind.ERRORS}
ROLLBACK_CLEARS = {FaultKind.DEPLOY}


class Simulation:
    """A synthetic microservice system you can run, break and repair.

    Implements `SimulatorControl` (see control.py) in-process.

    Args:
        config: the system; `config.seed` fixes topology and every record.
        topology: use this topology instead of generating one.
    """

    def __init__(self, config: SimConfig | None = None, topology: Topology | None = None) -> None:
        self.config = config or SimConfig()
        self.topology = topology or generate_topology(
            self.config.n_services, np.random.default_rng([self.config.seed, 0]))
        step = self.config.step_s
        start = self.config.start_time if self.config.start_time is not None else _time.time() // step * step
        self.start_time = float(start)
        self.now = self.start_time  # start of the next step to generate
        self.faults: list[Fault] = []
        self.replicas: dict[str, int] = {s: 1 for s in self.topology.services}
        self.versions: dict[str, str] = {s: spec.version for s, spec in self.topology.services.items()}
        self._previous_versions: dict[str, list[str]] = {s: [] for s in self.topology.services}
        self._events: list[tuple[float, str, str, str, dict]] = []  # (time, service, kind, message, attrs)
        self._lock = threading.RLock()
        self._live = None
        self.last_model: StepModel | None = None

    # ------------------------------------------------------------------ what it is
    @property
    def services(self) -> list[str]:
        return sorted(self.topology.services)

    def _check(self, service: str) -> None:
        if service not in self.topology.services:
            raise NotFoundError(f"no service {service!r} in this simulation")

    # ------------------------------------------------------------------ faults
    def inject(self, kind: str | FaultKind, service: str | None = None, at: float | None = None,
               duration: float | None = None, severity: float | None = None) -> Fault:
        """Inject a fault.

        Args:
            kind: cpu | memory | latency | errors | network | deploy.
            service: the faulty service (None: a random non-entry service, seeded).
            at: simulated seconds from the simulation's start (None: now).
            duration: seconds until it stops by itself (None: until repaired).
            severity: effect scale (None: the config's fault_severity).
        """
        kind = FaultKind.parse(kind)
        with self._lock:
            if service is None:
                rng = np.random.default_rng([self.config.seed, 1, len(self.faults)])
                candidates = [s for s in self.services if self.topology.services[s].tier != "entry"]
                service = str(rng.choice(candidates))
            self._check(service)
            start = self.now if at is None else self.start_time + float(at)
            if duration is not None and duration <= 0:
                raise ConfigError("fault duration must be > 0")
            fault = Fault(kind=kind, service=service, start=start,
                          end=None if duration is None else start + duration,
                          severity=self.config.fault_severity if severity is None else float(severity))
            if kind is FaultKind.DEPLOY:
                old = self.versions[service]
                fault.version = _bump(old)
                fault.meta["previous"] = old
            self.faults.append(fault)
            return fault

    def active_faults(self) -> list[dict]:
        """Faults in force now ("state": "active") or injected for later ("state": "scheduled")."""
        with self._lock:
            out = []
            for f in self.faults:
                if f.active(self.now):
                    out.append({**f.to_dict(), "state": "active"})
                elif f.start > self.now and f.cleared_at is None:
                    out.append({**f.to_dict(), "state": "scheduled"})
            return out

    def _clear(self, service: str, kinds: set[FaultKind] | None) -> list[Fault]:
        cleared = []
        for f in self.faults:
            if f.service == service and f.cleared_at is None and (f.end is None or f.end > self.now) \
                    and f.start <= self.now and (kinds is None or f.kind in kinds):
                f.cleared_at = self.now
                cleared.append(f)
        return cleared

    def clear_fault(self, service: str) -> bool:
        """Remove every fault of `service` now (the fault is "fixed"). True if one was active."""
        with self._lock:
            self._check(service)
            cleared = self._clear(service, None)
            for f in cleared:
                if f.kind is FaultKind.DEPLOY:
                    self._set_version(service, f.meta.get("previous", self.versions[service]), "rollback")
            return bool(cleared)

    def restart(self, service: str) -> bool:
        """Restart the service: clears memory leaks, CPU hogs and exception storms. True if it fixed one."""
        with self._lock:
            self._check(service)
            cleared = self._clear(service, RESTART_CLEARS)
            self._event(service, "restart", tpl.RESTART.format(version=self.versions[service]), {})
            return bool(cleared)

    def scale_out(self, service: str, replicas: int) -> bool:
        """Run `replicas` copies: spreads load and dampens CPU contention. True if the count changed."""
        with self._lock:
            self._check(service)
            if replicas < 1:
                raise ConfigError("replicas must be >= 1")
            changed = self.replicas[service] != replicas
            self.replicas[service] = int(replicas)
            self._event(service, "scale", tpl.SCALE.format(replicas=replicas), {"replicas": int(replicas)})
            return changed

    def rollback(self, service: str) -> bool:
        """Undo the last deploy of `service`. True if a bad deploy was in force."""
        with self._lock:
            self._check(service)
            cleared = self._clear(service, ROLLBACK_CLEARS)
            if cleared:
                self._set_version(service, cleared[-1].meta.get("previous", "1.0.0"), "rollback")
            elif self._previous_versions[service]:
                self._set_version(service, self._previous_versions[service][-1], "rollback")
            return bool(cleared)

    def _set_version(self, service: str, version: str, kind: str) -> None:
        old = self.versions[service]
        if kind == "deploy":
            self._previous_versions[service].append(old)
        elif self._previous_versions[service]:
            self._previous_versions[service].pop()
        self.versions[service] = version
        template = tpl.DEPLOY if kind == "deploy" else tpl.ROLLBACK
        self._event(service, kind, template.format(version=version, previous=old),
                    {"service.version": version, "previous.version": old})

    def _event(self, service: str, kind: str, message: str, attrs: dict, t: float | None = None) -> None:
        self._events.append((self.now if t is None else t, service, kind, message, attrs))

    # ------------------------------------------------------------------ records
    def _step_index(self, t: float) -> int:
        return int(round((t - self.start_time) / self.config.step_s))

    def tick(self) -> RecordBatch:
        """Records of the step starting at `self.now`; advances `self.now` by one step."""
        with self._lock:
            t = self.now
            end = t + self.config.step_s
            # deploys take effect when their fault starts
            for f in self.faults:
                if f.kind is FaultKind.DEPLOY and t <= f.start < end and not f.meta.get("deployed"):
                    f.meta["deployed"] = True
                    self._set_version(f.service, f.version, "deploy")
                    self._events[-1] = (f.start, *self._events[-1][1:])
            rng = np.random.default_rng([self.config.seed, 2, self._step_index(t)])
            model = compute_step(self.topology, self.config, self.faults, t + self.config.step_s / 2, rng, self.replicas)
            model.t = t
            versions = dict(self.versions)
            batch = RecordBatch()
            batch.spans = step_traces(self.topology, self.config, model, rng, versions)
            batch.metrics = step_metrics(model, versions, self.replicas)
            batch.logs = step_logs(self.topology, self.config, model, batch.spans, rng, versions)
            due = [e for e in self._events if e[0] < end]
            self._events = [e for e in self._events if e[0] >= end]
            for when, service, kind, message, attrs in due:
                when = max(when, t)
                a = {"change.kind": kind, **attrs}
                batch.logs.append(LogRecord(
                    service=service, time=when, body=message, severity=SEVERITY["INFO"], severity_text="INFO",
                    attributes=a, resource={"service.name": service, "service.version": self.versions[service]}))
                batch.changes.append(ChangeEvent(service=service, time=when, kind=kind, description=message, attributes=a))
            batch.logs.sort(key=lambda r: r.time)
            self.last_model = model
            self.now = end
            return batch

    def run(self, duration: float) -> Iterator[RecordBatch]:
        """Ticks covering `duration` simulated seconds from now, as fast as they compute."""
        steps = int(np.ceil(duration / self.config.step_s))
        for _ in range(steps):
            yield self.tick()

    # ------------------------------------------------------------------ live
    def run_live(self, exporter_endpoint: str, speed: float = 1.0, duration: float | None = None,
                 on_tick: Callable[[RecordBatch], None] | None = None, headers: dict[str, str] | None = None,
                 block: bool = False) -> threading.Thread:
        """Emit ticks through the OpenTelemetry SDK to an OTLP/HTTP endpoint, in a thread.

        Args:
            exporter_endpoint: base URL, e.g. "http://127.0.0.1:4318".
            speed: simulated seconds per wall second (0 = as fast as possible).
            duration: simulated seconds to run (None: until `stop()`).
            on_tick: called with each batch after it was sent.
            headers: extra HTTP headers (e.g. Authorization).
            block: wait for the run to finish before returning.
        """
        from rca_service.simulator.live import LiveRunner

        with self._lock:
            if self._live is not None and self._live.is_alive():
                raise ConfigError("this simulation is already running live")
            self._live = LiveRunner(self, exporter_endpoint, speed, duration, on_tick, headers)
            self._live.start()
        if block:
            self._live.join()
        return self._live

    def stop(self, timeout: float = 10.0) -> None:
        """Stop a live run and flush what it has sent."""
        live = self._live
        if live is not None:
            live.stop()
            live.join(timeout)


def _bump(version: str) -> str:
    parts = version.split(".")
    try:
        parts[-1] = str(int(parts[-1]) + 1)
    except ValueError:
        parts.append("1")
    return ".".join(parts)
