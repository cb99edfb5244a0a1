"""Fine-tuning a trained localizer on real labelled incidents, and k-fold cross-validation of it.

A model trained on synthetic and simulated incidents ranks real systems less well than
simulated ones: real telemetry has its own noise, sparse series and propagation. A few
dozen labelled real incidents close much of that gap when the shipped weights are trained a
few more epochs on them. Synthetic incidents are mixed into every fine-tuning run so the model
keeps what it knew about other topologies (without them it forgets within a few epochs).

Honest figures need held-out labels: `cross_validate` fine-tunes one model per fold (for
benchmarks, one per recording day) on the other folds' cases and ranks each case with the
model that never saw its label.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from rca_service.errors import ConfigError, InputError
from rca_service.localize.calibration import Calibration
from rca_service.localize.configs import config_from_dict
from rca_service.localize.gnn import RootCauseModel
from rca_service.localize.graph import IncidentGraphBuilder
from rca_service.localize.trainer import LabelledGraph, TrainConfig, fit, graph_logits


@dataclass
class FineTuneConfig:
    """How a trained localizer is fine-tuned on labelled real cases.

    Attributes:
        epochs: passes over the mixed training set.
        lr: Adam learning rate (a third of a fresh run's: the weights are already good).
        repeat: each labelled case is used this many times per epoch.
        synthetic_cases: synthetic incidents mixed in so other topologies are not forgotten.
        heldout_cases: further synthetic incidents the temperature is refitted on.
        synthetic_seed: seed of the synthetic incidents (away from the base model's own seeds).
        seed: torch and shuffling seed.
    """

    epochs: int = 10
    lr: float = 1e-3
    repeat: int = 5
    synthetic_cases: int = 800
    heldout_cases: int = 200
    synthetic_seed: int = 50_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.repeat < 1 or self.synthetic_cases < 0 or self.heldout_cases < 1:
            raise ConfigError("epochs, lr, repeat, heldout_cases must be positive; synthetic_cases >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FineTuneConfig":
        return config_from_dict(cls, d)


@dataclass
class ReplaySets:
    """What a fine-tuning run mixes into training and calibrates on, besides the new labelled
    cases (built once, reused by every fold).

    Attributes:
        train: synthetic incidents, plus labelled cases the base was trained on (for example its
            simulator cases): without them it drifts away from what it learned there.
        heldout: held-out synthetic incidents, plus held-out labelled cases, for the temperature.
    """

    train: list[LabelledGraph]
    heldout: list[LabelledGraph]

    @classmethod
    def build(cls, config: FineTuneConfig, builder: IncidentGraphBuilder, replay: list[LabelledGraph] | None = None,
              calibration: list[LabelledGraph] | None = None) -> "ReplaySets":
        from rca_service.localize.train import synthetic_graphs  # train.py imports this module

        synthetic = synthetic_graphs(config.synthetic_cases, config.synthetic_seed, builder) if config.synthetic_cases else []
        return cls(synthetic + list(replay or []),
                   synthetic_graphs(config.heldout_cases, config.synthetic_seed + 10_000, builder) + list(calibration or []))


def fine_tune(base: RootCauseModel, labelled: list[LabelledGraph], config: FineTuneConfig, replay: ReplaySets,
              progress: bool = False) -> tuple[RootCauseModel, Calibration]:
    """A copy of `base` trained further on `labelled` (× repeat) plus the replay set, and its
    temperature refitted on the replay set's held-out cases. The base model is left untouched."""
    if not labelled:
        raise InputError("fine-tuning needs at least one labelled case")
    model = copy.deepcopy(base)
    torch.manual_seed(config.seed)
    fit(model, replay.train + labelled * config.repeat,
        TrainConfig(epochs=config.epochs, lr=config.lr, seed=config.seed), progress=progress)
    calibration = Calibration.fit([graph_logits(model, g.graph)[0] for g in replay.heldout], [g.target for g in replay.heldout])
    return model, calibration


def cross_validate(base: RootCauseModel, labelled: list[LabelledGraph], fold_of: Callable[[str], str],
                   config: FineTuneConfig, replay: ReplaySets,
                   folds: list[str] | None = None) -> dict[str, tuple[RootCauseModel, Calibration]]:
    """One fine-tuned model per fold (`fold_of(case name)`), each trained on every other fold's
    cases. `folds` defaults to the folds of `labelled`.

    Raises InputError with fewer than two folds (a fold's model would have nothing to learn
    from, or would be tested on its own training cases)."""
    folds = sorted(set(folds or []) | {fold_of(g.name) for g in labelled})
    if len(folds) < 2:
        raise InputError(f"cross-validation needs at least two folds, got {folds}")
    return {f: fine_tune(base, [g for g in labelled if fold_of(g.name) != f], config, replay) for f in folds}
