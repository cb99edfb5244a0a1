"""The incident graph: the topology around an incident, with features that travel across systems.

For an `Incident` and a store, `IncidentGraphBuilder.build` takes the call graph around the
anomalous services and describes each node by how its signals moved after the incident onset
relative to its own history (per signal family: latency, errors, traffic, resource, network,
logs, change, other), who went wrong first, what it adds on top of its callees, new log
templates and change events, how much longer the calls into and out of it take on the wire than
in the callee (network and queues), how many calls it makes per request it serves (a request cut
short by a failure skips the calls after it), and its position in the graph. Edges carry call
volume, error share, latency, that gap and calls per request, before and after the onset. No service names and no dataset-specific
signal names enter the features; a family a service lacks is marked absent, not zero.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from rca_service.detect.incident import Incident
from rca_service.errors import ConfigError, InputError
from rca_service.localize.configs import config_from_dict
from rca_service.localize.deviation import (FAMILIES, SignalDeviation, family_peaks, own_signals, signal_deviations,
                                            signal_peer)
from rca_service.store.api import TelemetryStoreAPI
from rca_service.store.frames import SPAN_REQUEST_RATE, WindowFrame

_PER_FAMILY = ("peak", "mean", "rel", "present")
NODE_FEATURES: tuple[str, ...] = tuple(f"{fam}.{k}" for fam in FAMILIES for k in _PER_FAMILY) + (
    "overall.peak", "overall.rel", "overall.rank",
    "onset.has", "onset.delay", "onset.first",
    "latency.excess", "errors.excess", "callers.anomaly", "callees.anomaly",
    "degree.in", "degree.out", "logs.new_templates", "logs.new_error_templates",
    "change.events", "graph.size", "peer.latency", "peer.excess", "peer.present",
    "gap.in", "gap.out", "fanout.fall", "fanout.rise", "held.peak", "held.rel", "ends.in", "ends.out",
)
EDGE_FEATURES: tuple[str, ...] = (
    "calls.before", "calls.ratio", "errors.after", "errors.before", "latency.after", "latency.ratio",
    "client_latency.deviation", "gap.after", "gap.ratio", "fanout.ratio", "ends.rise", "reverse",
)
_GAP_RATIO = EDGE_FEATURES.index("gap.ratio")
_FANOUT_RATIO = EDGE_FEATURES.index("fanout.ratio")
_ENDS_RISE = EDGE_FEATURES.index("ends.rise")


@dataclass
class GraphConfig:
    """How the incident graph is cut out of the store.

    Attributes:
        history_seconds: baseline length before the onset.
        analysis_seconds: analysis window length from the onset on.
        min_history_steps: the baseline spans at least this many steps.
        min_analysis_steps: the analysis window spans at least this many steps.
        max_nodes: when the store has at most this many services, every service is a node;
            beyond it, the anomalous services and their neighbours within `hops`.
        hops: neighbourhood radius around anomalous services in large systems.
        onset_z: robust z above which a step counts as anomalous for onset timing.
        change_lookback_seconds: change events this long before the onset still count.
        gap_blocks_before: the baseline's call gaps and calls per request are the median of this
            many blocks of it.
        gap_blocks_after: the same for the analysis window.
    """

    history_seconds: float = 3600.0
    analysis_seconds: float = 300.0
    min_history_steps: int = 10
    min_analysis_steps: int = 3
    max_nodes: int = 120
    hops: int = 1
    onset_z: float = 5.0
    change_lookback_seconds: float = 600.0
    gap_blocks_before: int = 12
    gap_blocks_after: int = 5

    def __post_init__(self) -> None:
        if self.history_seconds <= 0 or self.analysis_seconds <= 0:
            raise ConfigError("history_seconds and analysis_seconds must be positive")
        if self.min_history_steps < 3 or self.min_analysis_steps < 1:
            raise ConfigError("min_history_steps must be >= 3 and min_analysis_steps >= 1")
        if self.max_nodes < 2 or self.hops < 0:
            raise ConfigError("max_nodes must be >= 2 and hops >= 0")
        if self.onset_z <= 0:
            raise ConfigError("onset_z must be positive")
        if self.gap_blocks_before < 1 or self.gap_blocks_after < 1:
            raise ConfigError("gap_blocks_before and gap_blocks_after must be >= 1")

    @classmethod
    def from_dict(cls, d: dict) -> "GraphConfig":
        return config_from_dict(cls, d)


@dataclass
class NodeDetail:
    """What the features of one node were computed from, kept for evidence."""

    service: str
    deviations: list[SignalDeviation]
    families: dict[str, tuple[float, float, int]]
    new_templates: list = field(default_factory=list)
    changes: list = field(default_factory=list)
    onset: int | None = None


@dataclass
class IncidentGraph:
    """Nodes, edges and features of one incident.

    Attributes:
        services: N node names, in node order.
        x: (N, F) float32 node features (`NODE_FEATURES`).
        edge_index: (2, E) int64, each caller → callee edge followed by its reverse.
        edge_attr: (E, D) float32 edge features (`EDGE_FEATURES`).
        details: per node, the deviations and events behind its features.
        baseline: (start, end) of the baseline window.
        analysis: (start, end) of the analysis window.
        step: the store's step in seconds.
    """

    services: list[str]
    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    details: list[NodeDetail]
    baseline: tuple[float, float]
    analysis: tuple[float, float]
    step: int

    @property
    def num_nodes(self) -> int:
        return len(self.services)

    def fingerprint(self) -> str:
        """sha256 of the node names, features and edges: what the model saw."""
        h = hashlib.sha256()
        h.update("\n".join(self.services).encode())
        for arr in (self.x, self.edge_index, self.edge_attr):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()

    def max_deviation(self) -> float:
        """The largest robust deviation of any signal of any node (0 when nothing moved)."""
        peaks = [d.peak for det in self.details for d in det.deviations]
        return max(peaks, default=0.0)


def _total_calls(topology: nx.DiGraph) -> float:
    return sum(d.get("calls", 0) for _, _, d in topology.edges(data=True))


# "change" is an event count, not a symptom: it does not make a node look anomalous.
_SYMPTOMS = tuple(f for f in FAMILIES if f != "change")


def _lp(v: float) -> float:
    return math.log1p(max(v, 0.0))


def _share_of_max(values: np.ndarray) -> np.ndarray:
    """Each value divided by the largest (all zeros when none is positive)."""
    top = values.max() if len(values) else 0.0
    return values / top if top > 0 else np.zeros(len(values))


def _held_peak(detail: NodeDetail) -> float:
    """The largest deviation a node's own symptom signals kept for two steps (see `held_peak`)."""
    return max((d.held for d in own_signals(detail.deviations) if d.family in _SYMPTOMS), default=0.0)


@dataclass
class BlockEdgeStats:
    """Per edge, block medians over a window: the call gap, the calls per caller request, and the
    share of the caller's requests that ended with this call."""

    gaps: dict[tuple[str, str], float] = field(default_factory=dict)
    fanouts: dict[tuple[str, str], float] = field(default_factory=dict)
    ends: dict[tuple[str, str], float] = field(default_factory=dict)


def _request_counts(frames: dict[str, WindowFrame]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per service, (step starts, requests served in each step; 0 where no span data)."""
    out = {}
    for service, frame in frames.items():
        counts = np.nan_to_num(frame.column(SPAN_REQUEST_RATE) * frame.step, nan=0.0)
        out[service] = (frame.times, counts)
    return out


def _served_per_block(callers: set[str], requests: dict[str, tuple[np.ndarray, np.ndarray]], start: float, width: int,
                      n_blocks: int) -> dict[str, np.ndarray]:
    """Per caller, the requests it served in each block of `width` seconds from `start`."""
    out = {}
    for u in callers:
        times, counts = requests.get(u, (np.zeros(0), np.zeros(0)))
        block = ((times - int(start)) // width).astype(np.int64)
        inside = (block >= 0) & (block < n_blocks)
        out[u] = np.bincount(block[inside], weights=counts[inside], minlength=n_blocks)
    return out


def _block_edge_stats(store: TelemetryStoreAPI, start: float, end: float, step: int, blocks: int,
                      edges: list[tuple[str, str]], requests: dict[str, tuple[np.ndarray, np.ndarray]]) -> BlockEdgeStats:
    """Per edge, the median over up to `blocks` equal blocks of [start, end) of the mean call gap
    (over calls that had both sides) and of the calls per request the caller served.

    A median of blocks, not one mean over the range: the hour before an incident may hold earlier
    incidents whose slow calls would otherwise make the baseline look slow. Blocks, not steps,
    keep the store reads bounded when steps are short. Calls per request count only blocks in
    which the caller served traced requests, so a block without traces says nothing; the share of
    requests ending with a call only blocks in which the caller's requests ended somewhere.
    """
    width = max(1, math.ceil((end - start) / step / blocks)) * step
    starts = range(int(start), int(end), width)
    served = _served_per_block({u for u, _ in edges}, requests, start, width, len(starts))
    gaps: dict[tuple[str, str], list[float]] = {}
    fanouts: dict[tuple[str, str], list[float]] = {}
    ends: dict[tuple[str, str], list[float]] = {}
    for b, t in enumerate(starts):
        topo = store.topology(t, min(t + width, end))
        ended: dict[str, float] = {}  # caller -> requests that ended with any call
        for u, v, attrs in topo.edges(data=True):
            n = attrs.get("gap_calls", 0)
            if n:
                gaps.setdefault((u, v), []).append(attrs["gap_sum"] / n)
            ended[u] = ended.get(u, 0.0) + attrs.get("ends", 0)
        for u, v in edges:
            data = topo.get_edge_data(u, v, default={})
            if served[u][b] > 0:
                fanouts.setdefault((u, v), []).append(data.get("calls", 0.0) / served[u][b])
            if ended.get(u, 0.0) > 0:
                ends.setdefault((u, v), []).append(data.get("ends", 0) / ended[u])
    return BlockEdgeStats(*({e: float(np.median(x)) for e, x in stat.items()} for stat in (gaps, fanouts, ends)))


def forward_rows(edge_attr: np.ndarray) -> np.ndarray:
    """Rows of `edge_attr` that are caller -> callee edges (each is followed by its reverse copy)."""
    return np.flatnonzero(edge_attr[:, -1] == 0.0) if len(edge_attr) else np.zeros(0, dtype=np.int64)


def _node_max(nodes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per node, the largest of `values` on its edges; 0 where none is larger."""
    out = np.zeros(n)
    np.maximum.at(out, nodes, values.astype(np.float64))
    return out


def _gap_extremes(edge_index: np.ndarray, edge_attr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the largest rise of the call gap on calls into it and on calls out of it.

    A network fault on a service delays what it sends: its callers wait longer than it worked
    (calls into it), and so may its callees' replies reach it late (calls out of it).
    """
    rows = forward_rows(edge_attr)
    ratio = edge_attr[rows, _GAP_RATIO]
    return _node_max(edge_index[1, rows], ratio, n), _node_max(edge_index[0, rows], ratio, n)


def _ends_extremes(edge_index: np.ndarray, edge_attr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the largest rise in the share of its callers' requests that end with a call to it,
    and how far the ends of its own requests moved (the rises summed over its outgoing calls).

    A caller gives up after a callee fails: its requests end with the call to that callee. Traces
    show this even where spans carry no error status.
    """
    rows = forward_rows(edge_attr)
    rise = edge_attr[rows, _ENDS_RISE]
    moved = np.zeros(n)
    np.add.at(moved, edge_index[0, rows], np.maximum(rise, 0.0).astype(np.float64))
    return _node_max(edge_index[1, rows], rise, n), moved


def _fanout_extremes(edge_index: np.ndarray, edge_attr: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per node, the largest fall and the largest rise of calls per request on its outgoing calls.

    A request that fails part-way skips the calls after the failure, so the failing service (or a
    caller giving up on a failed callee) makes fewer calls per request; retries make more.
    """
    rows = forward_rows(edge_attr)
    ratio = edge_attr[rows, _FANOUT_RATIO]
    return _node_max(edge_index[0, rows], -ratio, n), _node_max(edge_index[0, rows], ratio, n)


class IncidentGraphBuilder:
    """Cuts the incident graph out of a store.

    Args:
        config: windows and neighbourhood (defaults: one hour of history, five minutes after).
    """

    def __init__(self, config: GraphConfig | None = None) -> None:
        self.config = config or GraphConfig()

    def windows(self, anchor: float, step: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """(baseline, analysis) windows around an onset time, aligned to step starts."""
        cfg = self.config
        a0 = math.floor(anchor / step) * step
        hist = max(cfg.min_history_steps, math.ceil(cfg.history_seconds / step)) * step
        ana = max(cfg.min_analysis_steps, math.ceil(cfg.analysis_seconds / step)) * step
        return (a0 - hist, a0), (a0, a0 + ana)

    def _nodes(self, incident: Incident, store: TelemetryStoreAPI, topo: nx.DiGraph) -> list[str]:
        every = sorted(set(store.services()) | set(topo.nodes))
        if len(every) <= self.config.max_nodes:
            return every
        seeds = [s for s in incident.services if s in topo or s in every]
        undirected = topo.to_undirected(as_view=True)
        keep: set[str] = set(seeds)
        for s in seeds:
            if s in undirected:
                keep.update(nx.single_source_shortest_path_length(undirected, s, cutoff=self.config.hops))
        return sorted(keep)

    def build(self, incident: Incident, store: TelemetryStoreAPI, anchor: float | None = None) -> IncidentGraph:
        """The incident graph, with the onset at `anchor` (default: the incident's start)."""
        step = int(store.step)
        if step <= 0:
            raise InputError(f"store step must be positive, got {step}")
        (b0, b1), (a0, a1) = self.windows(incident.start if anchor is None else anchor, step)
        topo = store.topology(b0, a1)
        topo_before = store.topology(b0, b1)
        topo_after = store.topology(a0, a1)
        if _total_calls(topo_after) == 0 and _total_calls(topo_before) > 0:
            # not one traced call anywhere after the onset, after an hour of them: the tracing
            # pipeline lost data (collector down, export failing), the system did not stop
            # calling; the calls' after-onset statistics are unknown, so they read as unchanged
            topo_after = None
        services = self._nodes(incident, store, topo)
        if not services:
            raise InputError(f"incident {incident.id}: the store has no services around {a0}")
        index = {s: i for i, s in enumerate(services)}
        frames = {s: (store.frame(s, b0, b1), store.frame(s, a0, a1)) for s in services}
        details = [self._node_detail(s, store, frames[s], (a0, a1)) for s in services]
        edges = [(u, v) for u, v in topo.edges if u in index and v in index and u != v]
        client = {(services[u], services[v]): peak for (u, v), peak in self._peer_peaks(details, index).items()}
        cfg = self.config
        blocks = (_block_edge_stats(store, b0, b1, step, cfg.gap_blocks_before, edges,
                                    _request_counts({s: f[0] for s, f in frames.items()})),
                  None if topo_after is None else _block_edge_stats(store, a0, a1, step, cfg.gap_blocks_after, edges,
                                                                    _request_counts({s: f[1] for s, f in frames.items()})))
        edge_index, edge_attr = self._edge_features(edges, index, topo_before, topo_after, (b1 - b0) / step, (a1 - a0) / step,
                                                    client, blocks)
        x = self._node_features(details, edges, index, _gap_extremes(edge_index, edge_attr, len(services)),
                                _fanout_extremes(edge_index, edge_attr, len(services)),
                                _ends_extremes(edge_index, edge_attr, len(services)))
        return IncidentGraph(services, x, edge_index, edge_attr, details, (b0, b1), (a0, a1), step)

    def _node_detail(self, service: str, store: TelemetryStoreAPI, frames: tuple[WindowFrame, WindowFrame],
                     ana: tuple[float, float]) -> NodeDetail:
        cfg = self.config
        before, after = frames
        devs = signal_deviations(before, after, cfg.onset_z)
        onsets = [d.onset for d in devs if d.onset is not None]
        new_templates = [t for t in store.log_templates(service, ana[0], ana[1]) if t.first_seen >= ana[0]]
        changes = store.changes(service, ana[0] - cfg.change_lookback_seconds, ana[1])
        return NodeDetail(service, devs, family_peaks(devs), new_templates, changes, min(onsets) if onsets else None)

    def _node_features(self, details: list[NodeDetail], edges: list[tuple[str, str]], index: dict[str, int],
                       gaps: tuple[np.ndarray, np.ndarray], fanouts: tuple[np.ndarray, np.ndarray],
                       ends: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        n = len(details)
        fam_peak = np.zeros((n, len(FAMILIES)))
        fam_mean = np.zeros((n, len(FAMILIES)))
        present = np.zeros((n, len(FAMILIES)))
        for i, det in enumerate(details):
            for j, fam in enumerate(FAMILIES):
                if fam in det.families:
                    peak, mean, _ = det.families[fam]
                    fam_peak[i, j], fam_mean[i, j], present[i, j] = _lp(peak), _lp(mean), 1.0
        col_max = fam_peak.max(axis=0)
        fam_rel = np.divide(fam_peak, col_max, out=np.zeros_like(fam_peak), where=col_max > 0)
        symptom = [FAMILIES.index(f) for f in _SYMPTOMS]
        overall = fam_peak[:, symptom].max(axis=1) if n else np.zeros(0)
        overall_rel = _share_of_max(overall)
        held = np.array([_lp(_held_peak(det)) for det in details]) if n else np.zeros(0)
        held_rel = _share_of_max(held)
        order = np.argsort(-overall, kind="stable")
        rank = np.empty(n)
        rank[order] = np.arange(n) / max(n - 1, 1)

        onsets = np.array([np.nan if d.onset is None else d.onset for d in details], dtype=float)
        first = np.nanmin(onsets) if np.isfinite(onsets).any() else np.nan
        span = max(np.nanmax(onsets) - first, 1.0) if np.isfinite(onsets).any() else 1.0

        callees: dict[int, list[int]] = {i: [] for i in range(n)}
        callers: dict[int, list[int]] = {i: [] for i in range(n)}
        for u, v in edges:
            callees[index[u]].append(index[v])
            callers[index[v]].append(index[u])
        lat = fam_peak[:, FAMILIES.index("latency")]
        err = fam_peak[:, FAMILIES.index("errors")]
        # what callers measure of each node from their side (client latency labelled with the peer)
        peer_lat = np.zeros(n)
        peer_seen = np.zeros(n)
        for (_, v), peak in self._peer_peaks(details, index).items():
            peer_lat[v] = max(peer_lat[v], _lp(peak))
            peer_seen[v] = 1.0

        rows = []
        for i, det in enumerate(details):
            row = []
            for j in range(len(FAMILIES)):
                row += [fam_peak[i, j], fam_mean[i, j], fam_rel[i, j], present[i, j]]
            has = np.isfinite(onsets[i])
            row += [overall[i], overall_rel[i], rank[i]]
            row += [float(has), (onsets[i] - first) / span if has else 1.0, float(has and onsets[i] == first)]
            down = callees[i]
            row += [
                lat[i] - (lat[down].max() if down else 0.0),
                err[i] - (err[down].max() if down else 0.0),
                overall[callers[i]].mean() if callers[i] else 0.0,
                overall[down].mean() if down else 0.0,
                _lp(len(callers[i])), _lp(len(down)),
                _lp(len(det.new_templates)),
                _lp(sum(1 for t in det.new_templates if t.error_count > 0)),
                _lp(len(det.changes)),
                math.log1p(n) / 5.0,
                peer_lat[i], peer_lat[i] - lat[i] if peer_seen[i] else 0.0, peer_seen[i],
                gaps[0][i], gaps[1][i], fanouts[0][i], fanouts[1][i],
                held[i], held_rel[i], ends[0][i], ends[1][i],
            ]
            rows.append(row)
        x = np.asarray(rows, dtype=np.float32).reshape(n, len(NODE_FEATURES))
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    @staticmethod
    def _peer_peaks(details: list[NodeDetail], index: dict[str, int]) -> dict[tuple[int, int], float]:
        """(caller, callee) → largest deviation of the caller's latency series labelled with that callee."""
        out: dict[tuple[int, int], float] = {}
        for u, det in enumerate(details):
            for d in det.deviations:
                peer = signal_peer(d.signal)
                if peer in index and d.family == "latency" and index[peer] != u:
                    key = (u, index[peer])
                    out[key] = max(out.get(key, 0.0), d.peak)
        return out

    @staticmethod
    def _edge_features(edges: list[tuple[str, str]], index: dict[str, int], before: nx.DiGraph, after: nx.DiGraph | None,
                       steps_before: float, steps_after: float,
                       client: dict[tuple[str, str], float] | None = None,
                       blocks: tuple[BlockEdgeStats, BlockEdgeStats | None] = (BlockEdgeStats(), None)
                       ) -> tuple[np.ndarray, np.ndarray]:
        if not edges:
            return np.zeros((2, 0), dtype=np.int64), np.zeros((0, len(EDGE_FEATURES)), dtype=np.float32)
        src, dst, attrs = [], [], []
        for u, v in edges:
            b = before.get_edge_data(u, v, default={})
            if after is None:  # no trace data after the onset: the call as it was
                a, steps_a = b, steps_before
            else:
                a, steps_a = after.get_edge_data(u, v, default={}), steps_after
            cb, ca = b.get("calls", 0.0), a.get("calls", 0.0)
            rate_b, rate_a = cb / max(steps_before, 1.0), ca / max(steps_a, 1.0)
            lat_b = b.get("latency_sum", 0.0) / cb if cb else 0.0
            lat_a = a.get("latency_sum", 0.0) / ca if ca else 0.0
            before_blocks = blocks[0]
            after_blocks = before_blocks if blocks[1] is None else blocks[1]
            gap_b, gap_a = before_blocks.gaps.get((u, v)), after_blocks.gaps.get((u, v))
            fan_b, fan_a = before_blocks.fanouts.get((u, v)), after_blocks.fanouts.get((u, v))
            end_b, end_a = before_blocks.ends.get((u, v)), after_blocks.ends.get((u, v))
            feat = [
                _lp(rate_b),
                math.log((rate_a + 1e-3) / (rate_b + 1e-3)),
                a.get("errors", 0.0) / ca if ca else 0.0,
                b.get("errors", 0.0) / cb if cb else 0.0,
                _lp(lat_a * 1000.0),
                math.log((lat_a + 1e-4) / (lat_b + 1e-4)) if (ca and cb) else 0.0,
                _lp((client or {}).get((u, v), 0.0)),
                _lp(gap_a * 1000.0) if gap_a is not None else 0.0,
                math.log((gap_a + 1e-4) / (gap_b + 1e-4)) if (gap_a is not None and gap_b is not None) else 0.0,
                math.log((fan_a + 1e-2) / (fan_b + 1e-2)) if (fan_a is not None and fan_b is not None) else 0.0,
                end_a - end_b if (end_a is not None and end_b is not None) else 0.0,
            ]
            for s, d, rev in ((u, v, 0.0), (v, u, 1.0)):
                src.append(index[s])
                dst.append(index[d])
                attrs.append(feat + [rev])
        return np.asarray([src, dst], dtype=np.int64), np.asarray(attrs, dtype=np.float32)
