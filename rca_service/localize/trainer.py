"""Training the root-cause GNN on labelled incident graphs (listwise: softmax over each graph's nodes).

`LabelledGraph` pairs an incident graph with the index of its root node and the fault kind;
`fit` trains with a cross-entropy over the nodes of each graph (plus the kind head's
cross-entropy at the root), and `graph_logits` scores graphs for evaluation and calibration.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from rca_service.errors import ConfigError, InputError
from rca_service.localize.configs import config_from_dict
from rca_service.localize.gnn import KIND_CLASSES, RootCauseEnsemble, RootCauseModel
from rca_service.localize.graph import IncidentGraph

log = logging.getLogger(__name__)


@dataclass
class LabelledGraph:
    """An incident graph with its ground truth: the root node's index and the fault kind; a
    folder case also carries its `CaseRef.key`."""

    graph: IncidentGraph
    target: int
    kind: str
    name: str = ""
    key: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.target < self.graph.num_nodes:
            raise InputError(f"target {self.target} outside a graph of {self.graph.num_nodes} nodes")


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes:
        epochs: passes over the training graphs.
        batch_size: graphs per step.
        lr: Adam learning rate.
        weight_decay: L2 penalty.
        kind_weight: weight of the kind head's loss next to the ranking loss.
        seed: torch seed.
    """

    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    kind_weight: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.weight_decay < 0 or self.kind_weight < 0:
            raise ConfigError("epochs, batch_size, lr must be positive; weight_decay, kind_weight >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return config_from_dict(cls, d)


def to_data(graph: IncidentGraph, target: int = -1, kind: int = -1) -> Data:
    """A torch-geometric `Data` of one graph (target/kind = -1 when unlabelled)."""
    return Data(
        x=torch.from_numpy(graph.x),
        edge_index=torch.from_numpy(graph.edge_index),
        edge_attr=torch.from_numpy(graph.edge_attr),
        y=torch.tensor([target]),
        kind=torch.tensor([kind]),
        num_nodes=graph.num_nodes,
    )


def _listwise_loss(scores: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Mean over graphs of −log softmax(scores)[root] (softmax within each graph)."""
    gmax = scatter(scores, batch.batch, reduce="max")
    shifted = scores - gmax[batch.batch].detach()
    lse = torch.log(scatter(shifted.exp(), batch.batch, reduce="sum")) + gmax.detach()
    roots = batch.ptr[:-1] + batch.y
    return (lse - scores[roots]).mean()


def fit(model: RootCauseModel, graphs: list[LabelledGraph], config: TrainConfig, progress: bool = False) -> list[float]:
    """Train in place; returns the mean loss of each epoch.

    An ensemble's members are trained one after the other, member k with seed `config.seed + k`
    (its own initial weights are already its own), and the losses are their means."""
    if not graphs:
        raise InputError("no training graphs")
    if isinstance(model, RootCauseEnsemble):
        histories = [fit(member, graphs, replace(config, seed=config.seed + k), progress)
                     for k, member in enumerate(model.members)]
        model.eval()
        return [float(v) for v in np.mean(histories, axis=0)]
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    data = [to_data(g.graph, g.target, KIND_CLASSES.index(g.kind) if g.kind in KIND_CLASSES else -1) for g in graphs]
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    kind_loss = torch.nn.CrossEntropyLoss(ignore_index=-1)
    history: list[float] = []
    epochs = range(config.epochs)
    if progress:
        from tqdm import tqdm

        epochs = tqdm(epochs, desc="training localizer", unit="epoch")
    # collate once: re-collating every step costs more than the forward pass on small graphs
    order = rng.permutation(len(data))
    batches = [Batch.from_data_list([data[j] for j in order[i:i + config.batch_size]])
               for i in range(0, len(order), config.batch_size)]
    model.train()
    for _ in epochs:
        total = 0.0
        for b in rng.permutation(len(batches)):
            batch = batches[b]
            scores, kinds = model(batch.x, batch.edge_index, batch.edge_attr, batch.batch)
            roots = batch.ptr[:-1] + batch.y
            loss = _listwise_loss(scores, batch) + config.kind_weight * kind_loss(kinds[roots], batch.kind)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * batch.num_graphs
        sched.step()
        history.append(total / len(data))
    model.eval()
    return history


@torch.no_grad()
def graph_logits(model: RootCauseModel, graph: IncidentGraph) -> tuple[np.ndarray, np.ndarray]:
    """(node logits (N,), kind logits (N, K)) of one graph, in eval mode."""
    model.eval()
    d = to_data(graph)
    batch = torch.zeros(graph.num_nodes, dtype=torch.long)
    scores, kinds = model(d.x, d.edge_index, d.edge_attr, batch)
    return scores.numpy().astype(np.float64), kinds.numpy().astype(np.float64)


def root_ranks(model: RootCauseModel, graphs: list[LabelledGraph]) -> np.ndarray:
    """1-based rank of each graph's root under `model` (ties counted in the root's favour)."""
    out = []
    for g in graphs:
        scores, _ = graph_logits(model, g.graph)
        out.append(int((scores > scores[g.target]).sum()) + 1)
    return np.array(out, dtype=int)


def top_k_accuracy(model: RootCauseModel, graphs: list[LabelledGraph], k: int = 1) -> float:
    """Share of graphs whose root is among the k best-scored nodes."""
    if not graphs:
        return 0.0
    return float(np.mean(root_ranks(model, graphs) <= k))
