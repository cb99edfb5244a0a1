"""The root-cause GNN: scores every node of an incident graph as the root cause.

Architecture: a per-node MLP encoder, `layers` rounds of GATv2 attention (Brody et al., "How
Attentive are Graph Attention Networks?", ICLR 2022) over the call edges in both directions
(edge features carry the direction), residual connections, then a head that sees each node's
embedding next to the graph's max-pooled embedding (so a score is relative to the rest of the
incident) and its raw features. A second head predicts the fault kind of a node.
Scores are logits: a softmax over the nodes of one graph gives root-cause probabilities.

`RootCauseEnsemble` averages the logits of several such networks trained apart (other seeds):
one network's first pick among close candidates swings with its seed, their average does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, global_max_pool

from rca_service.errors import ConfigError
from rca_service.localize.configs import config_from_dict

# The kinds the kind head predicts, in output order (result.FAULT_KINDS less "unknown").
KIND_CLASSES = ("resource", "latency", "code_error", "network", "deploy")


@dataclass
class GNNConfig:
    """Hyper-parameters of `RootCauseGNN`.

    Attributes:
        in_features: node feature size (len(graph.NODE_FEATURES)).
        edge_features: edge feature size (len(graph.EDGE_FEATURES)).
        hidden: embedding size.
        layers: message-passing rounds.
        heads: attention heads per round (averaged).
        dropout: dropout on embeddings while training.
        members: networks in a seed ensemble (1: a single network, `RootCauseGNN`).
    """

    in_features: int
    edge_features: int
    hidden: int = 64
    layers: int = 2
    heads: int = 2
    dropout: float = 0.1
    members: int = 1

    def __post_init__(self) -> None:
        if self.in_features < 1 or self.edge_features < 1:
            raise ConfigError("in_features and edge_features must be >= 1")
        if self.hidden < 4 or self.layers < 0 or self.heads < 1:
            raise ConfigError("need hidden >= 4, layers >= 0, heads >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must lie in [0, 1)")
        if self.members < 1:
            raise ConfigError("members must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GNNConfig":
        return config_from_dict(cls, d)


class RootCauseGNN(nn.Module):
    """Root-cause scores and fault-kind logits for every node.

    Args:
        config: sizes (see `GNNConfig`).

    Shapes:
        - input x: (N, in_features) node features of one or more graphs, stacked.
        - input edge_index: (2, E) int64 source → target node indices.
        - input edge_attr: (E, edge_features).
        - input batch: (N,) int64 graph index of each node (all zeros for one graph).
        - output scores: (N,) root-cause logits, comparable within one graph.
        - output kinds: (N, len(KIND_CLASSES)) fault-kind logits.
    """

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.encoder = nn.Sequential(nn.Linear(config.in_features, h), nn.ReLU(), nn.Linear(h, h))
        self.convs = nn.ModuleList(
            GATv2Conv(h, h, heads=config.heads, concat=False, edge_dim=config.edge_features, add_self_loops=False)
            for _ in range(config.layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(config.layers))
        self.dropout = nn.Dropout(config.dropout)
        self.score_head = nn.Sequential(nn.Linear(2 * h + config.in_features, h), nn.ReLU(), nn.Linear(h, 1))
        self.kind_head = nn.Sequential(nn.Linear(h + config.in_features, h), nn.ReLU(), nn.Linear(h, len(KIND_CLASSES)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise every learnable parameter."""
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)
        for conv, norm in zip(self.convs, self.norms):
            if edge_index.numel():
                h = norm(h + self.dropout(torch.relu(conv(h, edge_index, edge_attr))))
            else:
                h = norm(h)
        pooled = global_max_pool(h, batch)[batch]
        scores = self.score_head(torch.cat([h, pooled, x], dim=-1)).squeeze(-1)
        kinds = self.kind_head(torch.cat([h, x], dim=-1))
        return scores, kinds

    def __repr__(self) -> str:
        c = self.config
        return (f"{self.__class__.__name__}(in={c.in_features}, edge={c.edge_features}, hidden={c.hidden}, "
                f"layers={c.layers}, heads={c.heads})")


class RootCauseEnsemble(nn.Module):
    """`config.members` RootCauseGNNs, trained one by one with their own seeds; the outputs are
    the means of theirs (same shapes as `RootCauseGNN`'s).

    Why: on a few dozen real incidents, which of two close candidates a single network ranks
    first depends on its initial weights; the mean of several is steadier and no less calibrated.
    """

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        single = replace(config, members=1)
        self.members = nn.ModuleList(RootCauseGNN(single) for _ in range(config.members))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        outs = [member(x, edge_index, edge_attr, batch) for member in self.members]
        return torch.stack([s for s, _ in outs]).mean(dim=0), torch.stack([k for _, k in outs]).mean(dim=0)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.config.members} x {self.members[0]!r})"


RootCauseModel = RootCauseGNN | RootCauseEnsemble


def build_gnn(config: GNNConfig) -> RootCauseModel:
    """A freshly initialised network for `config`: an ensemble when it asks for several members."""
    return RootCauseGNN(config) if config.members == 1 else RootCauseEnsemble(config)
