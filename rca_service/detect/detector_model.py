"""The shipped detector: autoencoder weights + normalisation settings + calibration, on disk.

Layout of one version (`models/detector/<version>/`):

    config.json   {"model": LSTMAutoencoderConfig, "features": FeatureConfig,
                   "calibration": CalibrationConfig, "family_ref": [F floats],
                   "global_threshold": {...}, "training": {...}}
    weights.pt    the autoencoder's state_dict (torch.save; loaded with weights_only=True)
    card.md       the model card: data, hyper-parameters, metrics, sha256 of the two files above

`models/detector/LATEST` holds the version name that "latest" resolves to. Loading checks both
files against the sha256 written in the card and refuses a mismatch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

from rca_service.detect.calibration import CalibrationConfig, Threshold
from rca_service.detect.features import FAMILIES, FeatureConfig, time_major_channel_inputs
from rca_service.detect.lstm_ae import LSTMAutoencoder, LSTMAutoencoderConfig, last_step_forward
from rca_service.errors import ModelError
from rca_service.util import sha256_file

_SHA_LINE = re.compile(r"^\s*[-*]?\s*`?(config\.json|weights\.pt)`?\s*:\s*`?([0-9a-f]{64})`?\s*$", re.MULTILINE)



@dataclass
class DetectorModel:
    """A trained autoencoder with everything needed to score with it.

    Attributes:
        model: the autoencoder (eval mode).
        features: normalisation settings it was trained with.
        calibration: risk level and POT settings.
        family_ref: (F,) typical normal reconstruction error per signal family; a signal's error
            is divided by its family's reference so families with noisier signals do not dominate.
        global_threshold: service-score threshold calibrated on the training systems' normal
            data; used for services without enough normal history of their own.
        training: what it was trained on and how well (for the card and the API).
        version: the version name ("" before saving).
        sha256: {"config.json": ..., "weights.pt": ...} once saved or loaded.
    """

    model: LSTMAutoencoder
    features: FeatureConfig
    calibration: CalibrationConfig
    family_ref: np.ndarray
    global_threshold: Threshold
    training: dict = field(default_factory=dict)
    version: str = ""
    sha256: dict = field(default_factory=dict)

    @property
    def window(self) -> int:
        return self.model.config.window

    def info(self) -> dict:
        """{"name", "version", "sha256"} for audit records."""
        return {"name": "detector", "version": self.version, "sha256": dict(self.sha256)}

    # -- scoring -----------------------------------------------------------------------------
    def errors(self, windows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Reconstruction of the last step of several service windows in one forward pass.

        Args:
            windows: per service (x (W, S), mask (W, S), families (S,)).

        Returns:
            per service (error (S,), NaN where masked; reconstruction (S,); latent (latent,)),
            the latent being the mean over the service's channels.
        """
        sizes = [f.shape[0] for _, _, f in windows]
        if sum(sizes) == 0:
            return [(np.zeros(0), np.zeros(0), np.zeros(self.model.config.latent)) for _ in windows]
        x = np.concatenate([x for x, _, _ in windows], axis=1)
        m = np.concatenate([m for _, m, _ in windows], axis=1)
        families = np.concatenate([f for _, _, f in windows]).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        err, recon, latent = self.last_step_errors(x, m, families, starts)
        return [(err[a:b], recon[a:b], latent[i]) for i, (a, b) in enumerate(pairwise(starts))]

    def last_step_errors(self, x: np.ndarray, mask: np.ndarray, families: np.ndarray,
                         starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`errors` of several services' windows laid side by side (the streaming hot path).

        Args:
            x: (W, C) compressed z of every service's channels, concatenated (0 where masked).
            mask: (W, C) bool.
            families: (C,) family index of each channel.
            starts: (n + 1,) where each service's channels begin, and C at the end.

        Returns:
            (error (C,), NaN where masked; reconstruction (C,) of the last step;
            latent (n, latent), each service's mean over its channels, 0 for a service without any).
        """
        n = len(starts) - 1
        sizes = np.diff(starts)
        owner = np.repeat(np.arange(n), sizes)
        r, latent = last_step_forward(self.model, time_major_channel_inputs(x, mask, families, owner, n))
        err = np.where(mask[-1], bounded_error(r, x[-1]), np.nan)
        means = np.zeros((n, latent.shape[1]), dtype=latent.dtype)
        has = sizes > 0
        if has.any():
            means[has] = np.add.reduceat(latent, starts[:-1][has], axis=0) / sizes[has, None]
        return err, r, means

    def relative_errors(self, err: np.ndarray, families: np.ndarray, signal_ref: np.ndarray | None = None) -> np.ndarray:
        """Errors divided by their reference (NaN stays NaN).

        The reference is the signal's own high normal error (`signal_ref`, per service, from its
        history) but never below its family's training reference, so a signal that was flat in
        normal history is judged against what is typical for its family.
        """
        ref = self.family_ref[families]
        if signal_ref is not None:
            ref = np.fmax(ref, signal_ref)  # a NaN reference falls back to the family one
        return err / ref

    # -- persistence -------------------------------------------------------------------------
    def config_dict(self) -> dict:
        return {
            "model": self.model.config.to_dict(),
            "features": self.features.to_dict(),
            "calibration": self.calibration.to_dict(),
            "family_ref": {f: float(v) for f, v in zip(FAMILIES, self.family_ref)},
            "global_threshold": self.global_threshold.to_dict(),
            "training": self.training,
        }

    def save(self, directory: Path, version: str, card_text: str = "") -> dict:
        """Write config.json, weights.pt and card.md; returns the sha256 of the first two."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.config_dict(), indent=2, sort_keys=True) + "\n")
        torch.save(self.model.state_dict(), directory / "weights.pt")
        self.version = version
        self.sha256 = {name: sha256_file(directory / name) for name in ("config.json", "weights.pt")}
        (directory / "card.md").write_text(card_text + _sha_section(self.sha256))
        return dict(self.sha256)

    @classmethod
    def load(cls, directory: Path, version: str = "") -> "DetectorModel":
        """Load one version folder after checking sha256 against its card.

        Raises:
            ModelError: a missing file, a checksum mismatch or a malformed config.
        """
        directory = Path(directory)
        for name in ("config.json", "weights.pt", "card.md"):
            if not (directory / name).is_file():
                raise ModelError(f"detector artifact {directory / name} is missing")
        recorded = dict(_SHA_LINE.findall((directory / "card.md").read_text()))
        actual = {name: sha256_file(directory / name) for name in ("config.json", "weights.pt")}
        for name, digest in actual.items():
            if recorded.get(name) != digest:
                raise ModelError(f"{directory / name}: sha256 {digest} does not match the card ({recorded.get(name)})")
        try:
            cfg = json.loads((directory / "config.json").read_text())
            model = LSTMAutoencoder(LSTMAutoencoderConfig.from_dict(cfg["model"]))
            model.load_state_dict(torch.load(directory / "weights.pt", weights_only=True, map_location="cpu"))
            model.eval()
            ref = np.array([float(cfg["family_ref"][f]) for f in FAMILIES])
            thr = Threshold(**cfg["global_threshold"])
            return cls(model, FeatureConfig.from_dict(cfg["features"]), CalibrationConfig.from_dict(cfg["calibration"]),
                       ref, thr, cfg.get("training", {}), version or directory.name, actual)
        except ModelError:
            raise
        except Exception as exc:  # any malformed artifact is one kind of failure for the caller
            raise ModelError(f"cannot load detector from {directory}: {exc}") from exc


def bounded_error(recon: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Reconstruction error, capped by the value's own distance from its normal median.

    The decoder is conditioned on the service's context, so when other signals go wild it may
    mis-reconstruct a signal that is perfectly normal (a flat error rate at 0 has x == 0 exactly).
    A signal must not be blamed for more than its own deviation; the cap keeps the model's part
    where it helps: explaining away deviations that the context makes normal.
    """
    return np.minimum(np.abs(recon - x), np.abs(x))


def _sha_section(sha: dict) -> str:
    lines = ["", "## sha256", ""] + [f"- `{name}`: `{digest}`" for name, digest in sorted(sha.items())]
    return "\n".join(lines) + "\n"


def resolve_version(models_dir: Path, version: str = "latest") -> Path:
    """The folder of a detector version under `models_dir/detector/` ("latest" reads LATEST).

    Raises:
        ModelError: no such version, or no LATEST file.
    """
    root = Path(models_dir) / "detector"
    if version == "latest":
        latest = root / "LATEST"
        if not latest.is_file():
            raise ModelError(f"{latest} is missing; train a detector or name a version")
        version = latest.read_text().strip()
    folder = root / version
    if not folder.is_dir():
        raise ModelError(f"detector version {version!r} not found under {root}")
    return folder


def load_detector(models_dir: Path | str, version: str = "latest") -> DetectorModel:
    """Load a detector version (sha256 verified). `version` "latest" follows models/detector/LATEST."""
    folder = resolve_version(Path(models_dir), version)
    return DetectorModel.load(folder, folder.name)
