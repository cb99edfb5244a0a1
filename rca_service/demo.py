"""`rca-service demo`: the whole loop, end to end, on this machine, in a few minutes.

What it does, in order (each step printed as it happens):

1. starts the service in-process on embedded defaults with a short step (5 s), OTLP/HTTP and the
   API on --http-port, OTLP/gRPC on --grpc-port, state in --data-dir;
2. starts a simulated microservice system (rca_service.simulator) and sends its telemetry to the
   service over real OTLP/HTTP through the OpenTelemetry SDK: first a back-filled stretch of
   normal history (so the detector has a baseline), then live traffic in real time;
3. injects a fault (--fault KIND into --service NAME, seeded by --seed);
4. waits for the incident, shows the ranked root causes with confidence and evidence and the
   proposed remediation, asks for approval (--yes approves), applies it to the simulator
   (the simulator executor really removes the fault), and waits for the SLO check;
5. verifies the audit chain and prints the incident page's URL.

The state stays in --data-dir, so `RCA_STEP_SECONDS=5 rca-service serve --data-dir DIR` shows the
demo's incident, its root causes, remediation and audit chain afterwards (the server must use the
demo's window step; the demo prints the exact command).

Exit codes: 0 when the injected service was ranked first and the remediation was verified;
1 when the loop ran but an outcome was wrong (the message says which); 2 when it could not run.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rca_service.datasets.config import config_from_dict
from rca_service.errors import ConfigError, RcaError

DEMO_OPERATOR = "demo-operator"
# Fault kinds whose fix the simulator executor can apply (restart or roll back removes them).
FIXABLE_FAULTS = ("errors", "cpu", "memory", "deploy")


@dataclass
class DemoConfig:
    """Timing and scale of the demo.

    Attributes:
        fault: fault kind to inject (see rca_service.simulator.config.FaultKind).
        service: service to break; None picks one (seeded) below the entry tier.
        seed: fixes the simulated system, its traffic and the chosen service.
        n_services: services in the simulated system.
        step_seconds: the service's window step and the simulator's tick (short, so it is quick).
        history_steps: normal steps back-filled before live traffic starts (the detector's baseline).
        live_warmup_steps: live normal steps before the fault is injected.
        detect_timeout_s: how long to wait for the incident after injecting.
        verify_seconds: after apply, how long the SLO has to recover before roll back.
        verify_timeout_s: how long to wait for the verification verdict after apply.
    """

    fault: str = "deploy"
    service: str | None = None
    seed: int = 7
    n_services: int = 10
    step_seconds: int = 5
    history_steps: int = 240
    live_warmup_steps: int = 4
    detect_timeout_s: float = 90.0
    verify_seconds: float = 40.0
    verify_timeout_s: float = 90.0

    def __post_init__(self) -> None:
        if self.fault not in FIXABLE_FAULTS:
            raise ConfigError(f"--fault must be one the simulator can fix: {', '.join(FIXABLE_FAULTS)} (got {self.fault!r})")
        if self.step_seconds < 1 or self.history_steps < 10 or self.live_warmup_steps < 0:
            raise ConfigError("DemoConfig: step_seconds >= 1, history_steps >= 10, live_warmup_steps >= 0")
        if min(self.detect_timeout_s, self.verify_seconds, self.verify_timeout_s) <= 0:
            raise ConfigError("DemoConfig: timeouts must be positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DemoConfig":
        """Build from a mapping, refusing keys this config does not have."""
        return config_from_dict(cls, data)


@dataclass
class DemoOutcome:
    """What happened, for the exit code and the test."""

    injected_service: str = ""
    fault: str = ""
    incident_id: str | None = None
    top_service: str | None = None
    injected_rank: int | None = None
    remediation_id: str | None = None
    remediation_status: str | None = None
    audit_ok: bool = False
    url: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class Progress:
    """Terminal output: numbered steps with a clock, ticks and crosses (plain text when piped)."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.t0 = time.monotonic()
        self.color = hasattr(out, "isatty") and out.isatty()
        self.n = 0

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def _clock(self) -> str:
        s = int(time.monotonic() - self.t0)
        return f"[{s // 60:02d}:{s % 60:02d}]"

    def step(self, text: str) -> None:
        self.n += 1
        print(f"\n{self._clock()} {self._paint(f'{self.n}. {text}', '1')}", file=self.out, flush=True)

    def info(self, text: str) -> None:
        print(f"        {text}", file=self.out, flush=True)

    def good(self, text: str) -> None:
        print(f"        {self._paint('✓', '32')} {text}", file=self.out, flush=True)

    def bad(self, text: str) -> None:
        print(f"        {self._paint('✗', '31')} {text}", file=self.out, flush=True)

    def waiting(self, text: str) -> None:
        """A line rewritten in place on a terminal; printed once otherwise."""
        if self.color:
            print(f"\r        {text}\033[K", end="", file=self.out, flush=True)

    def done_waiting(self) -> None:
        if self.color:
            print("\r\033[K", end="", file=self.out, flush=True)


def demo_command(args: argparse.Namespace) -> int:
    """Entry point of `rca-service demo` (cli.py dispatches here)."""
    progress = Progress()
    try:
        cfg = DemoConfig(fault=args.fault or DemoConfig.fault, service=args.service,
                         seed=args.seed if args.seed is not None else DemoConfig.seed)
        settings = demo_settings(args, cfg)
    except (ConfigError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = run_demo(settings, cfg, auto_approve=bool(args.yes), progress=progress,
                           keep_serving=not args.yes and sys.stdin.isatty())
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    except (RcaError, OSError) as exc:
        progress.bad(f"the demo could not run: {exc}")
        return 2
    if outcome.ok:
        print(f"\nDemo passed: {outcome.injected_service} was ranked first and the {outcome.fault} fault was "
              f"fixed and verified.", flush=True)
        return 0
    print("\nDemo FAILED:\n  - " + "\n  - ".join(outcome.failures), file=sys.stderr, flush=True)
    return 1


def demo_settings(args: argparse.Namespace, cfg: DemoConfig):
    """Embedded defaults for the demo; --host/--http-port/--grpc-port/--data-dir as for `serve`.

    Remediation acts for real here (dry_run off) because the target is the simulator only.
    """
    from rca_service.settings import Settings

    overrides: dict[str, Any] = {
        "step_seconds": cfg.step_seconds,
        "executor": "simulator",
        "dry_run": False,
        "allowed_namespaces": ["default"],
        "verify_seconds": cfg.verify_seconds,
    }
    for flag in ("host", "http_port", "grpc_port", "data_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[flag] = value
    return Settings(**overrides)


class _Server:
    """uvicorn serving the API app for an already-started service, in a thread."""

    def __init__(self, app, host: str, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="demo-http", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError("the HTTP server did not start (is the port in use? try --http-port)")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)


class _Ticker(threading.Thread):
    """Drives the service's loop (close steps, detect, rank, verify) once a second.

    It runs `lag` seconds behind the wall clock: a step's telemetry reaches us up to a step
    after the step ends (the simulator sends a step once it has happened), and a step scored
    before its data arrived would be skipped as empty.
    """

    def __init__(self, service, lag: float) -> None:
        super().__init__(name="demo-ticker", daemon=True)
        self.service = service
        self.lag = lag
        self.stop_event = threading.Event()
        self.errors = 0

    def run(self) -> None:
        while not self.stop_event.wait(1.0):
            try:
                self.service.tick(time.time() - self.lag)
            except Exception as exc:  # one bad pass must not end the demo; it is counted and shown
                self.errors += 1
                if self.errors <= 3:
                    print(f"        (service tick failed: {exc})", file=sys.stderr, flush=True)


def _wait(predicate, timeout: float, progress: Progress, label: str, poll: float = 0.5):
    """Poll `predicate` until it returns something truthy or `timeout` passes."""
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            progress.done_waiting()
            return value
        progress.waiting(f"{label} … {int(time.monotonic() - start)}s")
        time.sleep(poll)
    progress.done_waiting()
    return None


def _backfill(sim, endpoint: str) -> int:
    """Send the simulation's past steps as fast as they compute, until it has caught up with
    the wall clock (sending takes time, so "now" is read again after every step)."""
    from rca_service.simulator.live import OtlpEmitter

    emitter = OtlpEmitter(endpoint, namespace=sim.config.namespace)
    sent = 0
    try:
        while sim.now + sim.config.step_s <= time.time():
            emitter.send(sim.tick())
            sent += 1
    finally:
        emitter.shutdown()
    return sent


def _drain(service, timeout: float = 30.0) -> None:
    """Wait until ingest has handed every queued batch to the store."""
    ingest = getattr(service, "ingest", None)
    deadline = time.monotonic() + timeout
    while ingest is not None and time.monotonic() < deadline:
        stats = ingest.stats() if hasattr(ingest, "stats") else {}
        if not stats.get("queue_depth", stats.get("queued", 0)):
            return
        time.sleep(0.1)


def _show_rca(result, progress: Progress, injected: str) -> tuple[str | None, int | None]:
    rcs = result.root_causes
    if not rcs:
        progress.bad("no candidate root cause")
        return None, None
    verdict = "inconclusive — " if result.inconclusive else ""
    progress.info(f"{verdict}ranked {len(rcs)} candidates (model {result.model.get('name', '?')} "
                  f"{result.model.get('version', '')}):")
    for i, rc in enumerate(rcs[:5], 1):
        marker = "  ← injected here" if rc.service == injected else ""
        progress.info(f"  #{i} {rc.service:<24} {rc.kind:<10} confidence {rc.confidence:5.0%}  "
                      f"{rc.signal}{marker}")
        for ev in rc.evidence[:3] if i == 1 else []:
            progress.info(f"       · {ev.kind}: {ev.summary[:110]}")
    rank = next((i for i, rc in enumerate(rcs, 1) if rc.service == injected), None)
    return rcs[0].service, rank


def _ask(question: str) -> bool:
    try:
        answer = input(f"        {question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run_demo(settings, cfg: DemoConfig, *, auto_approve: bool, progress: Progress | None = None,
             keep_serving: bool = False) -> DemoOutcome:
    """Run the whole demo against a fresh in-process service; returns what happened.

    Args:
        settings: the service's settings (see `demo_settings`).
        cfg: timing, scale and scenario.
        auto_approve: approve the remediation without asking.
        progress: where to print (stdout by default).
        keep_serving: after the loop, keep the API and page up until Enter is pressed.
    """
    from rca_service.api.app import create_app
    from rca_service.respond.executors.simulator import SimulatorExecutor
    from rca_service.service import RcaService
    from rca_service.simulator.config import SimConfig
    from rca_service.simulator.engine import Simulation

    progress = progress or Progress()
    outcome = DemoOutcome(fault=cfg.fault)
    step = cfg.step_seconds
    history = cfg.history_steps * step
    now = time.time()
    sim = Simulation(SimConfig(n_services=cfg.n_services, seed=cfg.seed, step_s=float(step),
                               start_time=float((now - history) // step * step)))
    if cfg.service is not None and cfg.service not in sim.services:
        raise ConfigError(f"--service {cfg.service!r} is not in the simulated system; it has: {', '.join(sim.services)}")

    progress.step(f"Starting rca-service (step {step}s, data in {settings.data_dir})")
    service = RcaService(settings, executor=SimulatorExecutor(sim))
    server = _Server(create_app(service, manage_lifecycle=False), settings.host, settings.http_port)
    ticker = _Ticker(service, lag=2.0 * step)
    base = f"http://{settings.host}:{settings.http_port}"
    try:
        service.start(background_loop=False)
        server.start()
        progress.good(f"OTLP/HTTP and API on {base}, OTLP/gRPC on {settings.host}:{settings.grpc_port}")

        progress.step(f"Simulated system: {len(sim.services)} services (seed {cfg.seed})")
        edges = sim.topology.edges
        progress.info(f"services: {', '.join(sim.services)}")
        if edges:
            progress.info(f"{len(edges)} call edges, e.g. " + ", ".join(f"{a}→{b}" for a, b in edges[:4]))

        progress.step(f"Warming up: {cfg.history_steps} steps of normal history over OTLP, then live traffic")
        t_fill = time.monotonic()
        history_start = sim.start_time
        sent = _backfill(sim, base)
        _drain(service)
        # The back-filled stretch is known to be normal: the detector learns it as its baseline
        # (as `serve` would after hours of traffic) instead of scoring it cold.
        service.detector.prime(history_start, sim.now)
        service.detector.seek(sim.now)
        progress.good(f"back-filled {sent} steps ({sent * step // 60} min of normal traffic) "
                      f"in {time.monotonic() - t_fill:.0f}s")
        ticker.start()
        sim.run_live(base, speed=1.0)
        _wait(lambda: False, cfg.live_warmup_steps * step, progress, "live normal traffic")
        # Inject into a quiet system: an incident still open would absorb the fault's anomalies.
        quiet = _wait(lambda: not service.list_incidents(status="open"), cfg.detect_timeout_s, progress,
                      "waiting for warm-up alarms to close")
        pre_existing = {i.id for i in service.list_incidents()}
        if pre_existing:
            progress.info(f"note: {len(pre_existing)} incident(s) opened during warm-up (false alarms): "
                          + ", ".join(sorted(pre_existing)))
        if quiet is None:
            progress.info("note: an incident is still open; the fault may join it")
        progress.good("normal traffic flowing")

        progress.step(f"Injecting a '{cfg.fault}' fault")
        fault = sim.inject(cfg.fault, cfg.service)
        outcome.injected_service = fault.service
        inject_time = fault.start
        progress.good(f"fault in {fault.service} from {time.strftime('%H:%M:%S', time.gmtime(inject_time))} UTC")

        progress.step("Waiting for the detector to open an incident")

        def new_incident():
            # The incident the fault caused: opened after it, or an open one the faulty service joined after it.
            for inc in service.list_incidents():
                joined = inc.services.get(fault.service)
                if inc.id not in pre_existing and inc.start >= inject_time - 2 * step:
                    return inc
                if joined is not None and joined.first_seen >= inject_time - step:
                    return inc
            return None

        incident = _wait(new_incident, cfg.detect_timeout_s, progress, "watching windows")
        if incident is None:
            progress.bad(f"no incident within {cfg.detect_timeout_s:.0f}s")
            outcome.failures.append(f"the detector opened no incident within {cfg.detect_timeout_s:.0f}s of the fault")
            return outcome
        outcome.incident_id = incident.id
        lag = incident.start - inject_time
        progress.good(f"incident {incident.id} opened ({len(incident.services)} anomalous services: "
                      f"{', '.join(sorted(incident.services))}; first anomalous step {lag:+.0f}s from the fault)")
        outcome.url = f"{settings.base_url}/ui/incidents/{incident.id}"

        progress.step("Root causes")
        # An incident opened before the fault was ranked without it: rank again.
        result = service.rca(incident.id, refresh=incident.id in pre_existing)
        outcome.top_service, outcome.injected_rank = _show_rca(result, progress, fault.service)
        if outcome.top_service != fault.service:
            where = f"ranked #{outcome.injected_rank}" if outcome.injected_rank else "not ranked"
            outcome.failures.append(f"the injected service {fault.service} was {where}; #1 was {outcome.top_service}")
            progress.bad(f"{fault.service} is {where}")
        else:
            progress.good(f"{fault.service} ranked first")

        progress.step("Remediation")
        rem = _wait(lambda: next(iter(service.list_remediations(incident.id)), None), 15, progress, "waiting for a proposal")
        if rem is None:
            reason = "the root cause was inconclusive" if result.inconclusive else "none was proposed"
            outcome.failures.append(f"no remediation: {reason}")
            progress.bad(f"no remediation ({reason})")
            return _finish(service, outcome, progress)
        outcome.remediation_id = rem.id
        outcome.remediation_status = rem.status
        progress.info(f"proposed: {rem.action} {rem.params.get('workload', rem.service)} "
                      f"(status {rem.status}; dry run: {(rem.dry_run or {}).get('message', '-')})")
        if rem.status != "proposed":
            why = rem.refusal["message"] if rem.refusal else rem.status
            outcome.failures.append(f"the remediation was not proposed: {why}")
            progress.bad(f"refused: {why}")
            return _finish(service, outcome, progress)

        approved = auto_approve or _ask(f"Approve '{rem.action}' of {rem.service}?")
        if not approved:
            service.reject_remediation(rem.id, DEMO_OPERATOR, "operator", reason="declined at the demo prompt")
            outcome.remediation_status = "rejected"
            outcome.failures.append("the remediation was rejected at the prompt")
            progress.bad("rejected")
            return _finish(service, outcome, progress)
        service.approve_remediation(rem.id, DEMO_OPERATOR, "operator")
        progress.good(f"approved by {DEMO_OPERATOR}" + (" (--yes)" if auto_approve else ""))
        rem = service.apply_remediation(rem.id, DEMO_OPERATOR, "operator")
        answer = (rem.apply_result or {}).get("message", "")
        if rem.status == "applied":
            progress.good(f"applied to the simulator: {answer}")
        else:
            progress.bad(f"apply answered {rem.status}: {answer}")
        still = [f for f in sim.active_faults() if f.get("service") == fault.service]
        progress.info("the injected fault is gone from the simulator" if not still else f"the fault is still active: {still}")

        progress.step(f"Verifying recovery (SLO back to baseline within {cfg.verify_seconds:.0f}s)")

        def settled():
            r = next((x for x in service.list_remediations(incident.id) if x.id == rem.id), None)
            return r if r is not None and r.status != "applied" else None

        final = _wait(settled, cfg.verify_timeout_s, progress, "checking error rate and latency")
        outcome.remediation_status = final.status if final else "applied"
        if final is not None and final.status == "verified":
            progress.good("recovered: SLO signals back to the pre-incident baseline")
        else:
            outcome.failures.append(f"the remediation was not verified (status {outcome.remediation_status})")
            progress.bad(f"not verified: status {outcome.remediation_status}")
        return _finish(service, outcome, progress)
    finally:
        ticker.stop_event.set()
        sim.stop()
        if keep_serving and outcome.url:
            progress.info(f"The incident page is up at {outcome.url} — press Enter to stop.")
            try:
                input()
            except EOFError:
                pass
        server.stop()
        service.stop()


def _finish(service, outcome: DemoOutcome, progress: Progress) -> DemoOutcome:
    progress.step("Audit chain")
    verdict = service.audit_verify()
    outcome.audit_ok = bool(verdict.get("ok"))
    if outcome.audit_ok:
        progress.good(f"`rca-service audit verify` passes: {verdict.get('records')} records, hash chain and signed head intact")
    else:
        outcome.failures.append(f"audit verify failed: {verdict.get('reason')}")
        progress.bad(f"audit verify failed: {verdict.get('reason')}")
    if outcome.incident_id:
        records = service.audit_records(outcome.incident_id)
        progress.info("this incident's records: " + ", ".join(r.get("kind", "?") for r in records))
    if outcome.url:
        progress.step("Incident page")
        progress.info(outcome.url)
        data_dir = Path(service.settings.data_dir)
        # The windows were kept at the demo's step; a server on the same state must use it too.
        progress.info(f"later: RCA_STEP_SECONDS={service.settings.step_seconds} rca-service serve "
                      f"--data-dir {data_dir} --http-port {service.settings.http_port} and open the URL above")
    return outcome
