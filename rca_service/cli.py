"""The `rca-service` command line. Arguments live here; each command's work lives in its stage.

Commands (stable: other tools rely on them):
    serve                      OTLP/HTTP + API on --http-port, OTLP/gRPC on --grpc-port
    eval                       whole pipeline on a labelled benchmark folder, AC@k / Avg@5
    demo                       the main job end to end on embedded defaults
    audit verify               exit 0 when the audit chain is intact
    replay                     send a benchmark folder to a running server as OTLP
    simulate                   run the synthetic microservice system (or write a dataset)
    train detector|localizer   train a model and write models/<name>/<version>/
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path

# command -> "module:function"; the function takes the parsed args and returns an exit code.
_HANDLERS = {
    "serve": "rca_service.api.server:serve_command",
    "eval": "rca_service.localize.evaluate:eval_command",
    "demo": "rca_service.demo:demo_command",
    "audit.verify": "rca_service.audit.cli:verify_command",
    "replay": "rca_service.datasets.replay:replay_command",
    "simulate": "rca_service.simulator.cli:simulate_command",
    "train.detector": "rca_service.detect.train:train_command",
    "train.localizer": "rca_service.localize.train:train_command",
}


def _add_service_args(p: argparse.ArgumentParser, http_default: int = 4318, grpc_default: int = 4317) -> None:
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or RCA_HOST)")
    p.add_argument("--http-port", type=int, default=None, help=f"OTLP/HTTP and API port (default {http_default})")
    p.add_argument("--grpc-port", type=int, default=None, help=f"OTLP/gRPC port (default {grpc_default})")
    p.add_argument("--data-dir", type=Path, default=None, help="state folder (default ./data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rca-service", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the service")
    _add_service_args(p)

    p = sub.add_parser("eval", help="evaluate root-cause ranking on a labelled benchmark folder")
    p.add_argument("--format", choices=["nezha", "rcaeval", "sim"], required=True)
    p.add_argument("--path", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--baselines", action="store_true", help="also run rcaeval's BARO and NSigma")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--version", default="latest", help="localizer version (default: LATEST)")
    p.add_argument("--cross-validate", action="store_true",
                   help="fine-tune the version on the folder's other folds (Nezha: days; RCAEval: repetitions) "
                        "and rank each fold with the model that never saw its labels")
    for role, what in (("replay", "mixed into each fold's fine-tuning"), ("calibrate", "added to each fold's calibration")):
        p.add_argument(f"--{role}-path", type=Path, default=None, help=f"with --cross-validate: labelled folder {what}")
        p.add_argument(f"--{role}-format", choices=["nezha", "rcaeval", "sim"], default="sim")

    p = sub.add_parser("demo", help="run the end-to-end demo on embedded defaults")
    _add_service_args(p, 4318, 4317)
    p.add_argument("--yes", action="store_true", help="approve automatically, no prompts")
    p.add_argument("--fault", default=None, help="fault kind to inject")
    p.add_argument("--service", default=None, help="service to inject the fault into")
    p.add_argument("--seed", type=int, default=7)

    p = sub.add_parser("audit", help="audit chain tools")
    asub = p.add_subparsers(dest="audit_command", required=True)
    v = asub.add_parser("verify", help="verify the hash chain")
    v.add_argument("--data-dir", type=Path, default=None)
    v.add_argument("--json", action="store_true")

    p = sub.add_parser("replay", help="send a benchmark folder to a server as OTLP")
    p.add_argument("--format", choices=["nezha", "rcaeval", "sim"], required=True)
    p.add_argument("--path", type=Path, required=True)
    p.add_argument("--to", default="http://127.0.0.1:4318")
    p.add_argument("--speed", type=float, default=0.0, help="0 = as fast as possible; 60 = 60x recorded speed")
    p.add_argument("--limit", type=int, default=None, help="only the first N cases")
    p.add_argument("--token", default=None, help="ingest token, sent as a bearer token")

    p = sub.add_parser("simulate", help="run the synthetic microservice system")
    p.add_argument("--to", default="http://127.0.0.1:4318", help="OTLP/HTTP endpoint to send to")
    p.add_argument("--services", type=int, default=12)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=600.0, help="simulated seconds")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    p.add_argument("--fault", default=None, help="cpu|memory|latency|errors|network|deploy")
    p.add_argument("--fault-service", default=None)
    p.add_argument("--fault-at", type=float, default=None, help="simulated seconds from start")
    p.add_argument("--write-dataset", type=Path, default=None, help="write labelled cases (RCAEval layout) here instead of sending")
    p.add_argument("--cases", type=int, default=10, help="with --write-dataset: how many cases")
    p.add_argument("--control-port", type=int, default=None, help="serve the simulator's control API (restart, rollback...) on this port")

    p = sub.add_parser("train", help="train a model")
    tsub = p.add_subparsers(dest="model", required=True)
    for name in ("detector", "localizer"):
        t = tsub.add_parser(name, help=f"train the {name}")
        t.add_argument("--format", choices=["nezha", "rcaeval", "sim"], default="sim")
        t.add_argument("--path", type=Path, default=None)
        t.add_argument("--out", type=Path, default=None, help="models dir (default ./models)")
        t.add_argument("--version", default=None)
        t.add_argument("--epochs", type=int, default=None)
        t.add_argument("--seed", type=int, default=0)
    loc = tsub.choices["localizer"]
    loc.add_argument("--repeat", type=int, default=1, help="weight of the --path cases: each is used this many times")
    loc.add_argument("--calibrate-path", type=Path, default=None,
                     help="labelled folder (of --calibrate-format) added to the held-out cases the confidence is calibrated on")
    loc.add_argument("--calibrate-format", choices=["nezha", "rcaeval", "sim"], default="sim")
    loc.add_argument("--init", default=None,
                     help="fine-tune this version (in the models dir) on the --path cases instead of training from scratch")
    loc.add_argument("--replay-path", type=Path, default=None,
                     help="with --init: labelled folder (of --replay-format) mixed into the fine-tuning, e.g. the cases "
                          "the init version was trained on")
    loc.add_argument("--replay-format", choices=["nezha", "rcaeval", "sim"], default="sim")
    loc.add_argument("--members", type=int, default=1,
                     help="train this many networks (seeds --seed, --seed+1, ...) and average their scores; "
                          "with --init the init version's members are fine-tuned")
    return parser


def _handler_key(args: argparse.Namespace) -> str:
    if args.command == "audit":
        return f"audit.{args.audit_command}"
    if args.command == "train":
        return f"train.{args.model}"
    return args.command


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format='{"t":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
    )
    module_name, func_name = _HANDLERS[_handler_key(args)].split(":")
    handler = getattr(importlib.import_module(module_name), func_name)
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
