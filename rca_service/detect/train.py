"""`rca-service train detector`: fit the autoencoder on fault-free data and write a model version.

Data path (the same as in production): dataset adapter -> records -> TelemetryStore -> frames.
Nezha: construct_data minus the time around faults; RCAEval and sim: each case's pre-injection
part. Several `--path` folders may be joined with ',' to train on several systems at once
(e.g. "nezha:/data/nezha,sim:/data/sim").
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from rca_service.detect.calibration import CalibrationConfig
from rca_service.detect.detector_model import DetectorModel
from rca_service.detect.features import FAMILIES, FeatureConfig
from rca_service.detect.fitting import FitReport, fit_detector
from rca_service.detect.lstm_ae import LSTMAutoencoderConfig
from rca_service.errors import ConfigError, DatasetError, RcaError
from rca_service.records import RecordBatch
from rca_service.store.frames import WindowFrame

log = logging.getLogger(__name__)

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def _batch_span(batch: RecordBatch) -> tuple[float, float]:
    times = [s.start for s in batch.spans] + [m.time for m in batch.metrics] + [lg.time for lg in batch.logs]
    return (min(times), max(times)) if times else (float("nan"), float("nan"))


def frames_from_batches(batches: Iterable[RecordBatch], step: int = 60, max_hours: float | None = None) -> list[WindowFrame]:
    """Replay record batches through a TelemetryStore and read every service's frames back.

    Batches more than two steps apart start a new segment (a new store), so two fault-free
    periods are never stitched together. With `max_hours`, only the first hours of each
    segment are kept (the rest can then serve as unseen evaluation data).
    """
    from rca_service.store.config import StoreConfig
    from rca_service.store.telemetry import TelemetryStore

    frames: list[WindowFrame] = []
    store: TelemetryStore | None = None
    seg_start = last_end = None

    def flush() -> None:
        if store is None or store.watermark is None:
            return
        store.close_until(store.watermark + 2 * step)
        for svc in store.services():
            f = store.frame(svc, seg_start - step, last_end + step)
            if len(f.times):
                frames.append(f)

    for batch in batches:
        lo, hi = _batch_span(batch)
        if not np.isfinite(lo):
            continue
        if store is None or lo > last_end + 2 * step:
            flush()
            store = TelemetryStore(StoreConfig(step=step, retention_seconds=7 * 86400.0))
            seg_start, last_end = lo, hi
        if max_hours is not None and lo >= seg_start + max_hours * 3600:
            last_end = max(last_end, hi)  # still the same segment, but not kept
            continue
        store.consume(batch)
        last_end = max(last_end, hi)
    flush()
    return frames


def normal_frames(sources: list[tuple[str, Path]], step: int = 60, max_hours: float | None = None) -> list[WindowFrame]:
    """Fault-free frames of every (format, path) source, through the adapters and the store."""
    from rca_service.datasets import load_normal

    out: list[WindowFrame] = []
    for fmt, path in sources:
        frames = frames_from_batches(load_normal(fmt, path), step, max_hours)
        log.info("%s %s: %d normal frames, %d steps", fmt, path, len(frames), sum(len(f.times) for f in frames))
        out.extend(frames)
    return out


def parse_sources(fmt: str, path: str | Path | None) -> list[tuple[str, Path]]:
    """'--format nezha --path A' or '--path nezha:A,sim:B' -> [(format, path), ...]."""
    if path is None:
        raise ConfigError("train detector needs --path (a dataset folder)")
    out = []
    for part in str(path).split(","):
        if ":" in part and part.split(":", 1)[0] in ("nezha", "rcaeval", "sim"):
            f, p = part.split(":", 1)
        else:
            f, p = fmt, part
        if not Path(p).exists():
            raise DatasetError(f"{p} does not exist")
        out.append((f, Path(p)))
    return out


def model_card(det: DetectorModel, report: FitReport, sources: list[tuple[str, Path]], frames: list[WindowFrame],
               seconds: float, note: str = "") -> str:
    """The card's text (the sha256 section is appended when saving)."""
    services = sorted({f.service for f in frames})
    signals = sorted({s for f in frames for s in f.signals})
    cfg = det.model.config
    lines = [
        f"# Detector {det.version or ''}".rstrip(),
        "",
        "Channel-shared LSTM autoencoder (rca_service.detect.lstm_ae). Every (service, signal) is one",
        "channel: its robust z-score against the service's own normal history (median / MAD with floors,",
        "location following the last hour), log-compressed, with a mask bit for missing values, the",
        "signal family as a one-hot and the mean of the service's other signals per family as context.",
        "One set of weights therefore serves any signal set on any system. A signal's error is the",
        "reconstruction error of the newest step, capped by the value's own deviation (a normal value",
        "is never blamed because its context is odd), divided by that signal's own high normal error",
        "in the service's history (never below its family's reference below). The service score is the",
        "largest signal score over a threshold set by peaks-over-threshold on the service's normal",
        "scores at the risk level (the global threshold below until a service has enough history).",
        "Before a service has `min_history` normal steps it is scored by robust n-sigma (cold start).",
        "",
        "## Data",
        "",
        *[f"- {fmt}: `{path.name}` (fault-free periods)" for fmt, path in sources],
        f"- {len(frames)} frames, {len(services)} services, {sum(len(f.times) for f in frames)} service-steps, "
        f"{len(signals)} distinct signals",
        f"- families seen: {', '.join(sorted({FAMILIES[i] for i in range(len(FAMILIES)) if report.family_ref.get(FAMILIES[i])}))}",
        *([f"- {note}"] if note else []),
        "",
        "## Hyper-parameters",
        "",
        "```json",
        json.dumps({"model": cfg.to_dict(), "features": det.features.to_dict(), "calibration": det.calibration.to_dict()},
                   indent=2, sort_keys=True),
        "```",
        "",
        "## Metrics",
        "",
        f"- training windows: {report.train_windows}; epoch losses: {', '.join(f'{v:.4f}' for v in report.epochs_loss)}",
        f"- held-out normal steps: {report.heldout_steps}; held-out reconstruction MSE: {report.heldout_mse:.4f}",
        f"- global threshold: {report.global_threshold['value']:.3f} ({report.global_threshold['method']})",
        f"- family references: {', '.join(f'{k}={v:.3f}' for k, v in report.family_ref.items())}",
        f"- training time: {seconds:.0f} s on CPU",
        "",
    ]
    return "\n".join(lines)


def train_detector(sources: list[tuple[str, Path]], out_dir: Path, version: str, epochs: int | None = None,
                   seed: int = 0, max_hours: float | None = None, progress: bool = True,
                   set_latest: bool = True) -> DetectorModel:
    """Load fault-free data, fit, and write models/detector/<version>/ (+ LATEST).

    Raises:
        DatasetError: no usable normal data.
    """
    import torch

    torch.set_num_threads(1)  # shared machines: one thread; more threads spin-wait when cores are busy
    began = time.time()
    frames = normal_frames(sources, max_hours=max_hours)
    if not frames:
        raise DatasetError("no fault-free data found in " + ", ".join(str(p) for _, p in sources))
    cfg = LSTMAutoencoderConfig(seed=seed, **({"epochs": epochs} if epochs else {}))
    det, report = fit_detector(frames, cfg, FeatureConfig(), CalibrationConfig(), progress=progress)
    det.version = version
    det.training["sources"] = [{"format": f, "path": p.name} for f, p in sources]
    det.training["max_hours_per_segment"] = max_hours
    note = f"only the first {max_hours} h of each fault-free period were used" if max_hours else ""
    card = model_card(det, report, sources, frames, time.time() - began, note)
    folder = Path(out_dir) / "detector" / version
    det.save(folder, version, card)
    if set_latest:
        (Path(out_dir) / "detector" / "LATEST").write_text(version + "\n")
    log.info("detector %s written to %s", version, folder)
    return det


def train_command(args: argparse.Namespace) -> int:
    """`rca-service train detector --format F --path DIR [--out models] [--version v] [--epochs N]`."""
    try:
        sources = parse_sources(args.format, args.path)
        out = Path(args.out) if args.out else Path("models")
        version = args.version or time.strftime("v%Y%m%d-%H%M%S")
        det = train_detector(sources, out, version, args.epochs, args.seed)
    except RcaError as exc:
        log.error("train detector failed: %s", exc)
        return 2
    print(json.dumps({"version": det.version, "path": str(out / "detector" / det.version), "sha256": det.sha256}))
    return 0
