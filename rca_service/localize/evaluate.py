"""`rca-service eval`: the whole pipeline on a labelled benchmark folder, with AC@k and Avg@5.

For each case: a fresh store gets the case's records from the normal period up to a few
minutes after the injection (never the label); the detector opens the incident (or, when it
opened none around the injection, the incident is anchored at the injection time, as the
baselines are, and the case is marked `detected: false`); the localizer ranks the services.
`--baselines` runs rcaeval's BARO and NSigma on a DataFrame of the same store windows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from rca_service.datasets import load_cases
from rca_service.datasets.case import CaseRef
from rca_service.errors import DatasetError, RcaError
from rca_service.localize.calibration import expected_calibration_error
from rca_service.localize.finetune import FineTuneConfig, ReplaySets, cross_validate
from rca_service.localize.metrics import label_rank, services_from_columns, summarize, summarize_by
from rca_service.localize.pipeline import CaseRun, PipelineConfig, run_case
from rca_service.localize.ranker import Localizer, load_localizer
from rca_service.localize.result import RCAResult
from rca_service.localize.train import folder_graphs, labelled_graph
from rca_service.localize.trainer import LabelledGraph

log = logging.getLogger(__name__)

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
BASELINES = ("baro", "nsigma")


@dataclass
class CaseOutcome:
    """What one case gave: our ranking, the baselines' rankings, and how it was found."""

    case: str
    label: str
    fault: str
    ranks: list[str]
    detected: bool
    confidence: float
    inconclusive: bool
    kind: str
    seconds: float
    baselines: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"case": self.case, "label": self.label, "fault": self.fault, "ranks": self.ranks,
                "rank": label_rank(self.ranks, self.label), "detected": self.detected,
                "confidence": self.confidence, "inconclusive": self.inconclusive, "kind": self.kind,
                "seconds": round(self.seconds, 3), "baselines": self.baselines}


def baseline_frame(run: CaseRun, history_seconds: float, after_seconds: float) -> tuple[pd.DataFrame, dict[str, str]]:
    """time + `<alias>_<signal>` columns from the store's windows, and alias → service.

    Services are aliased (s0, s1, ...) because rcaeval splits a column at its first "_".
    """
    start, end = run.anchor - history_seconds, run.anchor + after_seconds
    cols: dict[str, np.ndarray] = {}
    alias: dict[str, str] = {}
    times = None
    for i, svc in enumerate(run.store.services()):
        fr = run.store.frame(svc, start, end)
        if times is None or len(fr.times) > len(times):
            times = fr.times
        alias[f"s{i}"] = svc
        for j, sig in enumerate(fr.signals):
            col = fr.values[:, j]
            if np.isfinite(col).sum() >= 2:
                # metric series keep their own names, as rcaeval's readers name them (its
                # preprocessing keys on suffixes such as "_mem")
                name = sig[len("metric."):] if sig.startswith("metric.") else sig
                cols[f"s{i}_{name}"] = pd.Series(col, index=fr.times)
    if times is None or not cols:
        raise DatasetError(f"{run.case.name}: no signals to build a baseline frame from")
    df = pd.DataFrame(cols).sort_index()
    df = df.ffill().bfill().fillna(0.0)
    df.insert(0, "time", df.index.astype(float))
    return df.reset_index(drop=True), alias


def run_baselines(run: CaseRun, history_seconds: float, after_seconds: float) -> dict[str, list[str]]:
    """BARO's and NSigma's service rankings on the same windows (rcaeval's implementations)."""
    # rcaeval's package namespace holds a `baro` submodule next to the function: import the function itself
    from RCAEval.e2e import nsigma
    from RCAEval.e2e.baro import baro

    df, alias = baseline_frame(run, history_seconds, after_seconds)
    out: dict[str, list[str]] = {}
    for name, fn in (("baro", baro), ("nsigma", nsigma)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ranks = fn(df, run.anchor, dataset=run.case.system or "rca-service")["ranks"]
        out[name] = [alias.get(s, s) for s in services_from_columns(list(ranks))]
    return out


def evaluate_case(ref, localizer: Localizer, cfg: PipelineConfig, baselines: bool) -> CaseOutcome:
    began = time.perf_counter()
    run = run_case(ref, cfg)
    result = localizer.rank(run.incident, run.store, anchor=run.anchor)
    return _outcome(ref, run, result, time.perf_counter() - began, cfg, baselines)


def _outcome(ref, run: CaseRun, result: RCAResult | None, seconds: float, cfg: PipelineConfig, baselines: bool) -> CaseOutcome:
    """The case's outcome: our ranking (`result`; None: to be added by `_with_ranking`) and the baselines'."""
    outcome = CaseOutcome(case=ref.name, label=ref.label_service, fault=ref.fault_type, ranks=[], detected=run.detected,
                          confidence=0.0, inconclusive=True, kind="unknown", seconds=seconds)
    if baselines:
        outcome.baselines = run_baselines(run, cfg.history_seconds, cfg.after_seconds)
    return outcome if result is None else _with_ranking(outcome, result, seconds)


def _with_ranking(outcome: CaseOutcome, result: RCAResult, seconds: float) -> CaseOutcome:
    top = result.root_causes[0] if result.root_causes else None
    return replace(outcome, ranks=[rc.service for rc in result.root_causes], confidence=top.confidence if top else 0.0,
                   inconclusive=result.inconclusive, kind=top.kind if top else "unknown", seconds=seconds)


def _failed(ref, baselines: bool) -> CaseOutcome:
    """A case that could not be run: it counts as a miss for every method."""
    return CaseOutcome(ref.name, ref.label_service, ref.fault_type, [], False, 0.0, True, "unknown", 0.0,
                       {n: [] for n in BASELINES} if baselines else {})


def report(outcomes: list[CaseOutcome], with_baselines: bool) -> dict:
    """The JSON report: cases, our metrics, per fault type, calibration, baselines."""
    ours = [(o.ranks, o.label) for o in outcomes]
    faults = [o.fault for o in outcomes]
    out = {"cases": [o.to_dict() for o in outcomes], **summarize(ours), "per_fault": summarize_by(ours, faults)}
    conf = np.array([o.confidence for o in outcomes])
    hit = np.array([bool(o.ranks) and o.ranks[0] == o.label for o in outcomes])
    out["calibration"] = {"ece": expected_calibration_error(conf, hit) if len(outcomes) else 0.0,
                          "mean_confidence": float(conf.mean()) if len(conf) else 0.0,
                          "inconclusive": int(sum(o.inconclusive for o in outcomes)),
                          "detected": int(sum(o.detected for o in outcomes))}
    if with_baselines:
        out["baselines"] = {}
        for name in BASELINES:
            ranked = [(o.baselines.get(name, []), o.label) for o in outcomes]
            out["baselines"][name] = {**summarize(ranked), "per_fault": summarize_by(ranked, faults)}
    return out


def _table(rep: dict) -> str:
    rows = [("ours", rep)] + [(n, m) for n, m in rep.get("baselines", {}).items()]
    lines = [f"{'method':<10} {'AC@1':>6} {'AC@3':>6} {'AC@5':>6} {'Avg@5':>6}"]
    lines += [f"{n:<10} {m['AC@1']:>6.3f} {m['AC@3']:>6.3f} {m['AC@5']:>6.3f} {m['Avg@5']:>6.3f}" for n, m in rows]
    lines.append("")
    lines.append(f"{'fault':<18} {'n':>3} " + " ".join(f"{n + ' AC@1':>12} {n + ' Avg@5':>12}" for n, _ in rows))
    for fault, m in rep["per_fault"].items():
        cells = [m] + [b["per_fault"].get(fault, {}) for _, b in rows[1:]]
        lines.append(f"{fault:<18} {m['n']:>3} " + " ".join(f"{c.get('AC@1', 0):>12.3f} {c.get('Avg@5', 0):>12.3f}" for c in cells))
    return "\n".join(lines)


def format_report(rep: dict) -> str:
    """Per-case lines, then the tables."""
    lines = [f"{'case':<44} {'label':<22} {'fault':<15} {'rank':>4} {'det':>3} {'conf':>5}  top-3"]
    for c in rep["cases"]:
        rank = c["rank"] if c["rank"] is not None else "-"
        lines.append(f"{c['case'][:44]:<44} {c['label'][:22]:<22} {c['fault'][:15]:<15} {rank!s:>4} "
                     f"{'y' if c['detected'] else 'n':>3} {c['confidence']:>5.2f}  {', '.join(c['ranks'][:3])}")
    cal = rep["calibration"]
    lines += ["", _table(rep), "",
              f"calibration: ECE {cal['ece']:.3f}, mean top confidence {cal['mean_confidence']:.2f}, "
              f"{cal['inconclusive']} inconclusive, {cal['detected']}/{len(rep['cases'])} detected by the detector"]
    cv = rep.get("cross_validation")
    if cv:
        b = cv["base_model"]
        lines.append(f"cross-validated: {cv['base']} fine-tuned per fold on the other folds' labelled cases; "
                     f"cases per fold {cv['folds']}; {cv['base']} itself on the same graphs: AC@1 {b['AC@1']:.3f}, "
                     f"AC@3 {b['AC@3']:.3f}, Avg@5 {b['Avg@5']:.3f}")
    return "\n".join(lines)


def _pipeline_config(localizer: Localizer, models_dir: Path | None) -> PipelineConfig:
    return PipelineConfig(history_seconds=localizer.artifacts.graph_config.history_seconds,
                          after_seconds=localizer.artifacts.graph_config.analysis_seconds, models_dir=models_dir)


def _refs(fmt: str, path: Path, limit: int | None) -> list[CaseRef]:
    refs = load_cases(fmt, path)
    return refs if limit is None else refs[:limit]


def evaluate(fmt: str, path: Path, localizer: Localizer, limit: int | None = None, baselines: bool = False,
             cfg: PipelineConfig | None = None, models_dir: Path | None = None) -> dict:
    """Run every case (or the first `limit`) and return the report dict."""
    cfg = cfg or _pipeline_config(localizer, models_dir)
    outcomes = []
    refs = _refs(fmt, path, limit)
    for ref in refs:
        try:
            outcomes.append(evaluate_case(ref, localizer, cfg, baselines))
        except RcaError as exc:  # one unreadable case must not sink the run; it counts as a miss
            log.warning("case %s failed: %s", ref.name, exc)
            outcomes.append(_failed(ref, baselines))
    rep = report(outcomes, baselines)
    rep["seen_labels"] = seen_labels(localizer, fmt, refs)
    return rep


def seen_labels(localizer: Localizer, fmt: str, cases: list[CaseRef]) -> int:
    """How many of these cases' labels the model (or the version it was fine-tuned from) was trained on.

    Cases are matched by `CaseRef.key` (name and injection time); a model trained before keys were
    recorded is matched by name."""
    meta = localizer.artifacts.meta
    seen_keys: set[str] = set()
    seen_names: set[str] = set()
    for rec in (meta.get("labelled_cases") or {}, meta.get("init_labelled_cases") or {}):
        if rec.get("format") == fmt:
            if "keys" in rec:
                seen_keys |= set(rec["keys"])
            else:
                seen_names |= set(rec.get("cases", []))
    return sum(ref.key in seen_keys or ref.name in seen_names for ref in cases)


def fold_of_case(fmt: str, name: str) -> str:
    """The cross-validation fold of a case: the recording day for Nezha (`<day>/<case>`), the
    repetition for RCAEval (`<service>_<fault>/<n>`: every fold holds every service and fault)."""
    if fmt == "nezha":
        return name.split("/")[0]
    if fmt == "rcaeval":
        return name.rsplit("/", 1)[-1]
    raise DatasetError(f"no cross-validation folds for format {fmt!r} (nezha: by day, rcaeval: by repetition)")


def evaluate_cross_validated(fmt: str, path: Path, localizer: Localizer, config: FineTuneConfig | None = None,
                             limit: int | None = None, baselines: bool = False, cfg: PipelineConfig | None = None,
                             models_dir: Path | None = None, replay: list[LabelledGraph] | None = None,
                             calibration: list[LabelledGraph] | None = None) -> dict:
    """Held-out figures for a model fine-tuned on a dataset's own labels: the cases are split into
    folds (`fold_of_case`); each fold is ranked by `localizer` fine-tuned on the other folds only
    (with the `replay` and `calibration` cases of the recipe, see `finetune.ReplaySets`).

    Every case is replayed once; its graph serves as a training case for the other folds' models
    and is ranked by its own fold's model. The report says which model ranked which fold."""
    config = config or FineTuneConfig()
    cfg = cfg or _pipeline_config(localizer, models_dir)
    prepared, failed = [], []
    for ref in _refs(fmt, path, limit):
        began = time.perf_counter()
        try:
            run = run_case(ref, cfg)
            graph = localizer.builder.build(run.incident, run.store, run.anchor)
        except RcaError as exc:
            log.warning("case %s failed: %s", ref.name, exc)
            failed.append(_failed(ref, baselines))
            continue
        # the outcome without our ranking; the store is dropped (dozens of stores do not fit)
        pending = _outcome(ref, run, None, 0.0, cfg, baselines)
        prepared.append((ref, pending, run.incident.id, graph, time.perf_counter() - began))
    labelled = [lg for lg in (labelled_graph(ref, g) for ref, _, _, g, _ in prepared) if lg is not None]
    fold_of = lambda name: fold_of_case(fmt, name)  # noqa: E731
    models = cross_validate(localizer.model, labelled, fold_of, config, ReplaySets.build(config, localizer.builder, replay, calibration),
                            folds=[fold_of(ref.name) for ref, *_ in prepared])
    rankers = {f: Localizer(replace(localizer.artifacts, version=f"{localizer.version}+finetuned-without-{f}", model=m,
                                    calibration=c, hashes={}), localizer.config) for f, (m, c) in models.items()}
    outcomes = list(failed)
    base_ranked = [([], o.label) for o in failed]
    for ref, pending, incident_id, graph, seconds in prepared:
        began = time.perf_counter()
        result = rankers[fold_of(ref.name)].rank_graph(incident_id, graph, None)
        outcomes.append(_with_ranking(pending, result, seconds + time.perf_counter() - began))
        base_ranked.append(([rc.service for rc in localizer.rank_graph(incident_id, graph, None).root_causes],
                            ref.label_service))
    rep = report(outcomes, baselines)
    # the base model on the same graphs: what fine-tuning on the other folds added
    rep["cross_validation"] = {"base": localizer.version, "folds": {f: sum(fold_of(o.case) == f for o in outcomes) for f in models},
                               "finetune": config.to_dict(), "labelled_cases": len(labelled),
                               "replay_cases": len(replay or []), "calibration_cases": len(calibration or []),
                               "base_model": summarize(base_ranked)}
    rep["seen_labels"] = 0
    return rep


def recipe_folders(localizer: Localizer, folders: dict,
                   models_dir: Path | None = None) -> tuple[list[LabelledGraph], list[LabelledGraph]]:
    """The replay and calibration cases of a fine-tuning recipe, from labelled folders given as
    role → {"format", "path"} (the shape a fine-tuned model's meta records; a missing role: none)."""
    return tuple(folder_graphs(folders[role]["format"], Path(folders[role]["path"]), localizer.builder, models_dir=models_dir)
                 if folders.get(role) else [] for role in ("replay", "calibrate"))


def eval_command(args: argparse.Namespace) -> int:
    """`rca-service eval --format F --path DIR [--json] [--baselines] [--limit N] [--models-dir D] [--version V]
    [--cross-validate [--replay-path DIR] [--calibrate-path DIR]]`."""
    models_dir = Path(args.models_dir) if getattr(args, "models_dir", None) else DEFAULT_MODELS_DIR
    try:
        localizer = load_localizer(models_dir, getattr(args, "version", "latest") or "latest")
        if getattr(args, "cross_validate", False):
            seen = seen_labels(localizer, args.format, _refs(args.format, Path(args.path), args.limit))
            if seen:
                base = (localizer.artifacts.meta.get("init") or {}).get("version")
                hint = f" (it was fine-tuned from {base}: --version {base})" if base else ""
                raise RcaError(f"localizer {localizer.version} was trained on the labels of {seen} of these cases; "
                               f"cross-validate a version that was not{hint}")
            folders = {role: {"format": getattr(args, f"{role}_format"), "path": getattr(args, f"{role}_path")}
                       for role in ("replay", "calibrate") if getattr(args, f"{role}_path") is not None}
            replay, calibration = recipe_folders(localizer, folders, models_dir)
            rep = evaluate_cross_validated(args.format, Path(args.path), localizer, limit=args.limit,
                                           baselines=args.baselines, models_dir=models_dir, replay=replay,
                                           calibration=calibration)
        else:
            rep = evaluate(args.format, Path(args.path), localizer, limit=args.limit, baselines=args.baselines,
                           models_dir=models_dir)
    except RcaError as exc:
        print(f"eval failed: {exc}", file=sys.stderr)
        return 2
    rep["model"] = localizer.model_info()
    if rep["seen_labels"]:
        print(f"warning: localizer {localizer.version} was trained on the labels of {rep['seen_labels']} of these "
              f"{len(rep['cases'])} cases: these figures are not held-out (see --cross-validate)", file=sys.stderr)
    if args.json:
        print(json.dumps(rep))
    else:
        print(format_report(rep))
    return 0
