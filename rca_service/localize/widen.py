"""Carry a trained localizer over to a feature list that gained features.

When the incident graph gains a node or edge feature, a trained model can still be the starting
point of the next one: its weights for the features it knows are kept, and every new feature
enters with zero weight, so the widened model ranks exactly as before until fine-tuning teaches
it what the new features mean. Features may only be added; a removed one has no safe mapping.
"""

from __future__ import annotations

import torch

from rca_service.errors import ModelError


def _columns(old: list[str], new: list[str]) -> list[int | None]:
    """For each new feature, its column in the old list (None for an added feature)."""
    missing = sorted(set(old) - set(new))
    if missing:
        raise ModelError(f"cannot widen: features {missing} are gone from this code")
    where = {name: i for i, name in enumerate(old)}
    return [where.get(name) for name in new]


def _widen_block(weight: torch.Tensor, offset: int, width: int, columns: list[int | None]) -> torch.Tensor:
    """Rebuild the `width` input columns starting at `offset` in the new feature order."""
    rows = weight.shape[0]
    block = torch.zeros(rows, len(columns), dtype=weight.dtype)
    for j, i in enumerate(columns):
        if i is not None:
            block[:, j] = weight[:, offset + i]
    return torch.cat([weight[:, :offset], block, weight[:, offset + width:]], dim=1)


def widen_state(state: dict[str, torch.Tensor], hidden: int, node_features: tuple[list[str], list[str]],
                edge_features: tuple[list[str], list[str]]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A `RootCauseGNN` (or `RootCauseEnsemble`: every member alike) state dict for new feature lists.

    Args:
        state: the trained model's state dict.
        hidden: its hidden size (the score head reads [h, pooled h, x]; the kind head [h, x]).
        node_features: (old, new) node feature names.
        edge_features: (old, new) edge feature names.

    Returns:
        A new state dict (inputs of added features get zero weights) and the added features' names.
    """
    nodes = _columns(*node_features)
    edges = _columns(*edge_features)
    n_old, e_old = len(node_features[0]), len(edge_features[0])
    out = dict(state)
    # where the node features enter each layer that reads them: (parameter, column offset)
    node_inputs = (("encoder.0.weight", 0), ("score_head.0.weight", 2 * hidden), ("kind_head.0.weight", hidden))
    # an ensemble's keys carry its member's prefix ("members.3.encoder.0.weight"); a single network's is ""
    first = node_inputs[0][0]
    prefixes = sorted(key[: -len(first)] for key in state if key.endswith(first)) or [""]
    for prefix in prefixes:
        for name, offset in node_inputs:
            key = prefix + name
            if key not in state or state[key].shape[1] != offset + n_old:
                raise ModelError(f"cannot widen: {key} does not read {n_old} node features at column {offset}")
            out[key] = _widen_block(state[key], offset, n_old, nodes)
    for key, weight in state.items():
        if key.endswith("lin_edge.weight"):
            if weight.shape[1] != e_old:
                raise ModelError(f"cannot widen: {key} does not read {e_old} edge features")
            out[key] = _widen_block(weight, 0, e_old, edges)
    added = [name for name, col in zip(node_features[1], nodes) if col is None]
    added += [name for name, col in zip(edge_features[1], edges) if col is None]
    return out, added
