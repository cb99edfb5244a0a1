"""`rca-service simulate`: run the synthetic system live, or write a labelled dataset."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from rca_service.errors import RcaError
from rca_service.simulator.config import SimConfig
from rca_service.simulator.control import ControlServer
from rca_service.simulator.dataset import DatasetConfig, write_dataset
from rca_service.simulator.engine import Simulation

log = logging.getLogger(__name__)


def simulate_command(args: argparse.Namespace) -> int:
    """Entry point for `rca-service simulate` (arguments defined in rca_service/cli.py).

    With `--write-dataset DIR`: writes `--cases` labelled cases (simulated time, no network).
    Otherwise: emits OTLP/HTTP to `--to` at `--speed`, injecting `--fault` into
    `--fault-service` at `--fault-at` simulated seconds; `--control-port` (when the parser has
    it) serves the control endpoint on 127.0.0.1.
    """
    try:
        if getattr(args, "write_dataset", None):
            cfg = DatasetConfig(cases=args.cases, seed=args.seed)
            manifest = write_dataset(args.write_dataset, cfg, progress=True)
            print(f"wrote {len(manifest)} cases to {args.write_dataset}")
            return 0
        return _run_live(args)
    except RcaError as exc:
        log.error("simulate: %s", exc)
        return 2


def _run_live(args: argparse.Namespace) -> int:
    sim = Simulation(SimConfig(n_services=args.services, seed=args.seed))
    if args.fault:
        fault = sim.inject(args.fault, args.fault_service, at=args.fault_at)
        log.info("fault %s in %s at +%.0fs", fault.kind.value, fault.service, fault.start - sim.start_time)
    control = None
    port = getattr(args, "control_port", None)
    if port:
        control = ControlServer(sim, port).start()
        log.info("control endpoint on http://127.0.0.1:%d", control.port)
    print(f"simulating {len(sim.services)} services: {', '.join(sim.services)}")
    done = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: done.set())
    try:
        runner = sim.run_live(args.to, speed=args.speed, duration=args.duration)
        while runner.is_alive() and not done.wait(0.5):
            pass
        sim.stop()
        return 1 if runner.failed else 0
    finally:
        signal.signal(signal.SIGINT, previous)
        if control:
            control.stop()
