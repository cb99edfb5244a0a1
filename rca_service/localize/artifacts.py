"""Saving and loading the localizer's artifacts, with sha256 checks.

Layout: `<models_dir>/localizer/<version>/` holds `config.json` (model, graph and feature
description), `weights.pt` (a state_dict, loaded with `weights_only=True`), `calibration.json`,
`card.md`, and `sha256.json` (the sha256 of each of the others, checked on load).
`<models_dir>/localizer/LATEST` names the default version.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from rca_service.errors import ModelError
from rca_service.localize.calibration import Calibration
from rca_service.localize.gnn import GNNConfig, RootCauseModel, build_gnn
from rca_service.localize.graph import EDGE_FEATURES, NODE_FEATURES, GraphConfig
from rca_service.localize.widen import widen_state
from rca_service.util import sha256_file

MODEL_NAME = "localizer"
log = logging.getLogger(__name__)

ARTIFACT_FILES = ("config.json", "weights.pt", "calibration.json", "card.md")
MANIFEST = "sha256.json"



@dataclass
class LocalizerArtifacts:
    """A loaded, verified localizer version."""

    version: str
    path: Path
    model: RootCauseModel
    graph_config: GraphConfig
    calibration: Calibration
    hashes: dict[str, str]
    meta: dict
    widened_features: list[str] = field(default_factory=list)  # features added on load (zero weight)


def save_artifacts(out_dir: Path, version: str, model: RootCauseModel, graph_config: GraphConfig,
                   calibration: Calibration, card: str, meta: dict, make_latest: bool = True) -> Path:
    """Write one version's files and manifest; point LATEST at it when asked."""
    root = Path(out_dir) / MODEL_NAME
    path = root / version
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "name": MODEL_NAME,
        "version": version,
        "gnn": model.config.to_dict(),
        "graph": graph_config.__dict__,
        "node_features": list(NODE_FEATURES),
        "edge_features": list(EDGE_FEATURES),
        "meta": meta,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    torch.save(model.state_dict(), path / "weights.pt")
    calibration.save(path / "calibration.json")
    hashes = {f: sha256_file(path / f) for f in ("config.json", "weights.pt", "calibration.json")}
    card_text = card.rstrip() + "\n\n## sha256\n\n" + "".join(f"- `{f}`: `{h}`\n" for f, h in hashes.items())
    (path / "card.md").write_text(card_text)
    hashes["card.md"] = sha256_file(path / "card.md")
    (path / MANIFEST).write_text(json.dumps(hashes, indent=2, sort_keys=True) + "\n")
    if make_latest:
        (root / "LATEST").write_text(version + "\n")
    return path


def resolve_version(models_dir: Path, version: str | None) -> str:
    """The concrete version: `version` itself, or the one LATEST names for None/"latest"."""
    if version and version != "latest":
        return version
    latest = Path(models_dir) / MODEL_NAME / "LATEST"
    try:
        name = latest.read_text().strip()
    except OSError as exc:
        raise ModelError(f"no localizer version given and {latest} is unreadable: {exc}") from exc
    if not name:
        raise ModelError(f"{latest} is empty")
    return name


def load_artifacts(models_dir: Path, version: str | None = "latest", widen: bool = True) -> LocalizerArtifacts:
    """Load and verify one version; raises ModelError when a file is missing or fails its sha256.

    A version trained on fewer features than this code computes is widened (`widen`, the
    default): the added features enter with zero weight, so it ranks exactly as it did, and it
    can be fine-tuned to use them. With `widen=False`, or when a feature it knows is gone, it
    is refused.
    """
    version = resolve_version(models_dir, version)
    path = Path(models_dir) / MODEL_NAME / version
    try:
        expected = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"localizer {version}: cannot read {path / MANIFEST}: {exc}") from exc
    hashes: dict[str, str] = {}
    for name in ARTIFACT_FILES:
        f = path / name
        if not f.is_file():
            raise ModelError(f"localizer {version}: missing {f}")
        hashes[name] = sha256_file(f)
        if expected.get(name) != hashes[name]:
            raise ModelError(f"localizer {version}: sha256 of {name} is {hashes[name]}, manifest says {expected.get(name)}")
    try:
        config = json.loads((path / "config.json").read_text())
    except ValueError as exc:
        raise ModelError(f"localizer {version}: bad config.json: {exc}") from exc
    gnn = GNNConfig.from_dict(config["gnn"])
    same = config.get("node_features") == list(NODE_FEATURES) and config.get("edge_features") == list(EDGE_FEATURES)
    if not same and not widen:
        raise ModelError(f"localizer {version} was trained on other features than this code computes; retrain it")
    added: list[str] = []
    try:
        state = torch.load(path / "weights.pt", map_location="cpu", weights_only=True)
        if not same:
            state, added = widen_state(state, gnn.hidden, (config.get("node_features", []), list(NODE_FEATURES)),
                                       (config.get("edge_features", []), list(EDGE_FEATURES)))
            gnn = replace(gnn, in_features=len(NODE_FEATURES), edge_features=len(EDGE_FEATURES))
            log.info("localizer %s predates features %s of this code; they enter with zero weight", version, added)
        model = build_gnn(gnn)
        model.load_state_dict(state)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ModelError(f"localizer {version}: cannot load weights: {exc}") from exc
    model.eval()
    return LocalizerArtifacts(version, path, model, GraphConfig.from_dict(config["graph"]),
                              Calibration.load(path / "calibration.json"), hashes, config.get("meta", {}), added)
