"""`rca-service train localizer`: train, calibrate and save the root-cause GNN.

Training data: synthetic incidents over random topologies (`synthetic.py`), always; with
`--path`, also the labelled cases of a folder (`--format sim` for the simulator's datasets,
`rcaeval` or `nezha` for benchmarks — a model trained on a benchmark's labels must not be used
to report accuracy on that benchmark). A held-out share of the synthetic cases fits the
temperature and gives the calibration figures written to the card.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from rca_service.datasets import load_cases
from rca_service.errors import RcaError
from rca_service.localize.artifacts import LocalizerArtifacts, load_artifacts, save_artifacts
from rca_service.localize.calibration import Calibration
from rca_service.localize.finetune import FineTuneConfig, ReplaySets, fine_tune
from rca_service.localize.gnn import GNNConfig, RootCauseModel, build_gnn
from rca_service.localize.graph import EDGE_FEATURES, NODE_FEATURES, GraphConfig, IncidentGraph, IncidentGraphBuilder
from rca_service.localize.pipeline import PipelineConfig, run_case
from rca_service.localize.synthetic import SyntheticConfig, SyntheticIncidents
from rca_service.localize.trainer import LabelledGraph, TrainConfig, fit, graph_logits, top_k_accuracy

log = logging.getLogger(__name__)

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "models"
# Dataset fault names → kind classes, by words (no dataset-specific names).
_KIND_WORDS = (("cpu", "resource"), ("mem", "resource"), ("disk", "resource"), ("delay", "network"),
               ("loss", "network"), ("network", "network"), ("latency", "latency"), ("deploy", "deploy"),
               ("return", "code_error"), ("exception", "code_error"), ("error", "code_error"), ("code", "code_error"))


def kind_of_fault(fault: str) -> str:
    """The kind class of a dataset's fault name (resource, network, latency, deploy, code_error)."""
    name = fault.lower()
    return next((kind for word, kind in _KIND_WORDS if word in name), "latency")


def synthetic_graphs(n: int, seed: int, builder: IncidentGraphBuilder, config: SyntheticConfig | None = None) -> list[LabelledGraph]:
    gen = SyntheticIncidents(config, seed=seed)
    out = []
    for c in gen.cases(n):
        g = builder.build(c.incident, c.store)
        out.append(LabelledGraph(g, g.services.index(c.root), c.kind, c.incident.id))
    return out


def folder_graphs(fmt: str, path: Path, builder: IncidentGraphBuilder, limit: int | None = None,
                  models_dir: Path | None = None) -> list[LabelledGraph]:
    """Labelled graphs from a benchmark or simulator folder, through adapters, store and detector
    (the trained detector of `models_dir`, as `eval` uses it; None: n-sigma)."""
    cfg = PipelineConfig(history_seconds=builder.config.history_seconds, after_seconds=builder.config.analysis_seconds,
                         models_dir=models_dir)
    out = []
    for ref in load_cases(fmt, path)[:limit]:
        try:
            run = run_case(ref, cfg)
            g = builder.build(run.incident, run.store, anchor=run.anchor)
        except RcaError as exc:
            log.warning("skipping %s: %s", ref.name, exc)
            continue
        labelled = labelled_graph(ref, g)
        if labelled is not None:
            out.append(labelled)
    return out


def labelled_graph(ref, graph: IncidentGraph) -> LabelledGraph | None:
    """A case's graph with its label as the target (None when the labelled service is not a node)."""
    if ref.label_service not in graph.services:
        return None
    return LabelledGraph(graph, graph.services.index(ref.label_service), kind_of_fault(ref.fault_type), ref.name, ref.key)


def labelled_cases_meta(fmt: str | None, graphs: list[LabelledGraph]) -> dict:
    """What a model's meta records of the labelled folder cases it was trained on, so that
    `eval` can tell held-out figures from figures on training cases."""
    if not fmt or not graphs:
        return {}
    record = {"format": fmt, "cases": sorted({g.name for g in graphs})}
    if all(g.key for g in graphs):  # folder cases: names may repeat across datasets, keys do not
        record["keys"] = sorted({g.key for g in graphs})
    return record


def train_localizer(out_dir: Path, version: str, n_train: int = 2000, n_heldout: int = 400, epochs: int = 30,
                    seed: int = 0, extra: list[LabelledGraph] | None = None, gnn: dict | None = None,
                    progress: bool = False, source: str = "synthetic",
                    calibration_extra: list[LabelledGraph] | None = None, extra_format: str | None = None) -> dict:
    """Train on synthetic (+ extra) graphs, calibrate on held-out synthetic (+ `calibration_extra`)
    graphs, save; returns metrics.

    Calibrating on held-out cases from a second generator (the simulator's raw-telemetry path)
    as well as the synthetic one makes the confidence honest under a change of system: a
    temperature fitted only on the training generator's own cases is over-confident elsewhere.
    """
    torch.manual_seed(seed)
    builder = IncidentGraphBuilder(GraphConfig())
    began = time.time()
    train = synthetic_graphs(n_train, seed, builder) + list(extra or [])
    heldout = synthetic_graphs(n_heldout, seed + 10_000, builder) + list(calibration_extra or [])
    gen_s = time.time() - began
    model = build_gnn(GNNConfig(len(NODE_FEATURES), len(EDGE_FEATURES), **(gnn or {})))
    tcfg = TrainConfig(epochs=epochs, seed=seed)
    losses = fit(model, train, tcfg, progress=progress)
    logits = [graph_logits(model, g.graph)[0] for g in heldout]
    calibration = Calibration.fit(logits, [g.target for g in heldout])
    metrics = {
        **_heldout_metrics(model, heldout, calibration, len(calibration_extra or [])), "train_cases": len(train),
        "final_loss": losses[-1], "data_seconds": round(gen_s, 1), "train_seconds": round(time.time() - began - gen_s, 1),
    }
    card = _card(version, source, model, tcfg, metrics)
    meta = {"trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": source,
            "train": tcfg.to_dict(), "metrics": metrics, "labelled_cases": labelled_cases_meta(extra_format, list(extra or []))}
    save_artifacts(out_dir, version, model, builder.config, calibration, card, meta)
    return metrics


def _heldout_metrics(model: RootCauseModel, heldout: list[LabelledGraph], calibration: Calibration, from_folder: int) -> dict:
    """Accuracy and calibration figures on the held-out cases, for the card and the meta."""
    return {"heldout_cases": len(heldout), "heldout_from_folder": from_folder,
            "heldout_AC@1": top_k_accuracy(model, heldout, 1), "heldout_AC@3": top_k_accuracy(model, heldout, 3),
            "ece_before": calibration.ece_before, "ece_after": calibration.ece_after, "temperature": calibration.temperature}


def finetune_localizer(out_dir: Path, version: str, init: LocalizerArtifacts, labelled: list[LabelledGraph], fmt: str,
                       config: FineTuneConfig, source: str, replay: list[LabelledGraph] | None = None,
                       calibration: list[LabelledGraph] | None = None, folders: dict | None = None,
                       progress: bool = False) -> dict:
    """Fine-tune the `init` version on labelled folder cases (see finetune.py), save as `version`;
    returns metrics. `replay` cases (for example the simulator cases the init version was trained
    on) are mixed into training, `calibration` cases join the held-out set of the temperature;
    `folders` (role → {"format", "path"}) is recorded so that benchmarks can cross-validate the
    same recipe. The graph features and configuration are the init version's."""
    began = time.time()
    builder = IncidentGraphBuilder(init.graph_config)
    sets = ReplaySets.build(config, builder, replay, calibration)
    model, calib = fine_tune(init.model, labelled, config, sets, progress=progress)
    metrics = {
        **_heldout_metrics(model, sets.heldout, calib, len(calibration or [])),
        "train_cases": len(sets.train) + len(labelled) * config.repeat, "replay_from_folder": len(replay or []),
        "seconds": round(time.time() - began, 1),
    }
    tcfg = TrainConfig(epochs=config.epochs, lr=config.lr, seed=config.seed)
    widened = (f", widened first to features it was not trained on ({', '.join(init.widened_features)}: "
               "they start at zero weight)") if init.widened_features else ""
    card = _card(version, f"{source}; fine-tuned from {init.version}{widened} ({config.to_dict()})", model, tcfg, metrics,
                 labelled_cases_meta(fmt, labelled))
    meta = {"trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": source,
            "init": {"version": init.version, "sha256": init.hashes, "meta": init.meta,
                     "widened_features": list(init.widened_features)}, "finetune": config.to_dict(),
            "finetune_folders": dict(folders or {}), "metrics": metrics,
            "labelled_cases": labelled_cases_meta(fmt, labelled), "init_labelled_cases": init.meta.get("labelled_cases") or {}}
    save_artifacts(out_dir, version, model, init.graph_config, calib, card, meta)
    return metrics


def _card(version: str, source: str, model: RootCauseModel, tcfg: TrainConfig, m: dict, seen: dict | None = None) -> str:
    if seen:
        honesty = (f"This version saw the labels of {len(seen['cases'])} {seen['format']} cases: its figures on that "
                   "dataset must come from cross-validation (`rca-service eval --cross-validate` of the version it "
                   "was fine-tuned from; `benchmarks/rca_accuracy.py` does so by itself).")
    else:
        honesty = "No benchmark labels were used unless the source above names a benchmark folder."
    return f"""# Localizer {version}

Root-cause GNN ({model!r}): scores every service of an incident graph; softmax over the
graph's nodes; temperature-scaled confidences; a kind head (resource, latency, code_error,
network, deploy).

## Data

Trained on {m['train_cases']} labelled incidents: {source}. Synthetic incidents are generated
over random call graphs of 4-40 services with random signal sets and names, fault kinds cpu,
memory, latency, code error, network delay and bad deploy, and unrelated distractor anomalies.
{honesty}

## Hyper-parameters

{model.config.to_dict()}; training {tcfg.to_dict()}.

## Held-out metrics

- AC@1 {m['heldout_AC@1']:.3f}, AC@3 {m['heldout_AC@3']:.3f} on {m['heldout_cases']} held-out cases
  ({m.get('heldout_from_folder', 0)} of them labelled cases from the calibration folder)
- calibration: temperature {m['temperature']:.3f}; ECE {m['ece_before']:.3f} before, {m['ece_after']:.3f} after
- Benchmark accuracy: run `benchmarks/rca_accuracy.py`.
"""


def _folder(fmt: str, path) -> dict:
    return {"format": fmt, "path": str(Path(path).resolve())}


def train_command(args: argparse.Namespace) -> int:
    """`rca-service train localizer [--format sim|rcaeval|nezha --path DIR] [--init VERSION] [--out D] [--version V] [--epochs N]`.

    With `--init`, the named version in the models dir is fine-tuned on the `--path` cases
    instead of a model being trained from scratch; `--replay-path` cases (those it was trained
    on) are mixed in so it keeps what it learned from them."""
    torch.set_num_threads(2)
    out = Path(args.out) if args.out else DEFAULT_OUT
    version = args.version or datetime.now(timezone.utc).strftime("v%Y%m%d%H%M")
    extra: list[LabelledGraph] = []
    calibration: list[LabelledGraph] = []
    source = "synthetic frames only"
    repeat = max(1, int(getattr(args, "repeat", 1) or 1))
    init_version = getattr(args, "init", None)
    try:
        init = load_artifacts(out, init_version) if init_version else None
        builder = IncidentGraphBuilder(init.graph_config if init else GraphConfig())
        if args.path is not None:
            extra = folder_graphs(args.format, Path(args.path), builder, models_dir=out)
            source = (f"{'' if init else 'synthetic frames + '}{len(extra)} labelled cases (x{repeat}) from {args.format} "
                      f"folder {Path(args.path).name}")
        if getattr(args, "calibrate_path", None) is not None:
            calibration = folder_graphs(args.calibrate_format, Path(args.calibrate_path), builder, models_dir=out)
            source += f"; confidence calibrated with {len(calibration)} held-out cases from {Path(args.calibrate_path).name}"
        if init is not None:
            if not extra:
                raise RcaError("--init fine-tunes on labelled cases: give --path (and --format)")
            config = FineTuneConfig(epochs=args.epochs or FineTuneConfig.epochs, repeat=repeat, seed=args.seed)
            replay: list[LabelledGraph] = []
            folders = {"train": _folder(args.format, args.path)}
            if getattr(args, "replay_path", None) is not None:
                replay = folder_graphs(args.replay_format, Path(args.replay_path), builder, models_dir=out)
                folders["replay"] = _folder(args.replay_format, args.replay_path)
                source += f"; {len(replay)} replayed cases from {Path(args.replay_path).name}"
            if calibration:
                folders["calibrate"] = _folder(args.calibrate_format, args.calibrate_path)
            metrics = finetune_localizer(out, version, init, extra, args.format, config, source, replay, calibration,
                                         folders, progress=sys.stderr.isatty())
        else:
            metrics = train_localizer(out, version, epochs=args.epochs or 30, seed=args.seed, extra=extra * repeat,
                                      progress=sys.stderr.isatty(), source=source, calibration_extra=calibration,
                                      extra_format=args.format if extra else None,
                                      gnn={"members": int(getattr(args, "members", 1))})
    except RcaError as exc:
        print(f"training failed: {exc}", file=sys.stderr)
        return 2
    print(f"localizer {version} written to {out / 'localizer' / version}: " +
          ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return 0
