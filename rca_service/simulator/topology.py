"""Random service topologies with a realistic shape.

Three tiers, calls only go down-tier (so the graph is a DAG): an entry tier (gateways, web
front-ends), a middle tier of application services in two or three layers, and a data tier
(databases, caches, queues) that calls nothing. Fan-out is wide near the top and narrow near
the bottom, as in real systems. Names are generated from neutral words plus a role suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

_WORDS = [
    "atlas", "beacon", "cobalt", "delta", "ember", "falcon", "garnet", "harbor", "iris", "jade",
    "kestrel", "lumen", "meadow", "nimbus", "onyx", "pixel", "quartz", "raven", "sierra", "tundra",
    "umber", "vertex", "willow", "xenon", "yarrow", "zephyr", "aurora", "basalt", "cedar", "dune",
    "flint", "glacier", "heron", "indigo", "juniper", "lotus", "marble", "nova", "orchid", "prism",
]
_ENTRY_ROLES = ["gateway", "web", "edge"]
_MID_ROLES = ["api", "svc", "engine", "worker", "core"]
_DATA_ROLES = {"db": "postgresql", "cache": "redis", "store": "mongodb", "queue": "kafka"}


@dataclass
class ServiceSpec:
    """One service and its steady-state character.

    Attributes:
        name: service name (lower case, "-" separated, never "_").
        tier: "entry" | "mid" | "data".
        layer: depth in the call graph (0 = entry).
        operations: endpoint names its server spans use.
        base_latency_ms: own processing time per request at low load.
        cpu_per_req: CPU percent per request per second.
        idle_cpu: CPU percent with no load.
        base_mem_mb: resident memory at start.
        mem_limit_mb: memory limit (the container's).
        db_system: for data-tier services, the `db.system` callers put on client spans.
        version: the deployed version (changes on deploy / rollback).
    """

    name: str
    tier: str
    layer: int
    operations: list[str]
    base_latency_ms: float
    cpu_per_req: float
    idle_cpu: float
    base_mem_mb: float
    mem_limit_mb: float
    db_system: str | None = None
    version: str = "1.0.0"


@dataclass
class Topology:
    """Services and their call edges; `fanout[(a, b)]` = mean calls to b per request of a."""

    services: dict[str, ServiceSpec]
    fanout: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return sorted(self.fanout)

    def callees(self, service: str) -> list[str]:
        return self._adjacency()[0].get(service, [])

    def callers(self, service: str) -> list[str]:
        return self._adjacency()[1].get(service, [])

    def _adjacency(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        # cached: record generators ask for callees once per span
        key = len(self.fanout)
        if getattr(self, "_adj_key", None) != key:
            down: dict[str, list[str]] = {}
            up: dict[str, list[str]] = {}
            for a, b in sorted(self.fanout):
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
            self._adj = (down, up)
            self._adj_key = key
        return self._adj

    def entries(self) -> list[str]:
        return sorted(s for s, spec in self.services.items() if spec.tier == "entry")

    def order(self) -> list[str]:
        """Services callers-first (a topological order of the call graph)."""
        if getattr(self, "_order_key", None) != len(self.fanout):
            self._order = list(nx.lexicographical_topological_sort(self.graph()))
            self._order_key = len(self.fanout)
        return self._order

    def graph(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.services)
        for (a, b), f in self.fanout.items():
            g.add_edge(a, b, fanout=f)
        return g

    def upstream_of(self, service: str) -> set[str]:
        """Every service whose requests reach `service` (its transitive callers)."""
        return nx.ancestors(self.graph(), service)


def _names(rng: np.random.Generator, n: int) -> list[str]:
    words = list(rng.permutation(_WORDS))
    out = []
    i = 0
    while len(out) < n:
        w = words[i % len(words)]
        out.append(w if i < len(words) else f"{w}{i // len(words) + 1}")
        i += 1
    return out


def generate_topology(n_services: int, rng: np.random.Generator) -> Topology:
    """A random three-tier DAG with `n_services` services (every service reachable from an entry)."""
    n_entry = 1 if n_services < 16 else 2
    n_data = max(2, int(round(n_services * rng.uniform(0.2, 0.3))))
    n_mid = n_services - n_entry - n_data
    if n_mid < 1:
        n_data, n_mid = n_services - n_entry - 1, 1
    n_layers = 2 if n_mid < 8 else 3
    words = _names(rng, n_services)
    services: dict[str, ServiceSpec] = {}
    layers: list[list[str]] = [[] for _ in range(n_layers + 2)]

    def add(word: str, tier: str, layer: int, role: str, db: str | None = None) -> str:
        name = f"{word}-{role}"
        ops = [f"{op} /{word}/{res}" for op, res in (("GET", "items"), ("POST", "items"), ("GET", "status"))]
        if tier == "data":
            ops = [f"{db}.query", f"{db}.write"]
        elif tier == "mid":
            ops = [f"{word}.{verb}" for verb in ("Get", "List", "Update")[: int(rng.integers(2, 4))]]
        services[name] = ServiceSpec(
            name=name, tier=tier, layer=layer, operations=ops,
            base_latency_ms=float(rng.uniform(2, 8) if tier == "data" else rng.uniform(5, 30)),
            cpu_per_req=float(rng.uniform(0.05, 0.4)),
            idle_cpu=float(rng.uniform(2, 8)),
            base_mem_mb=float(rng.uniform(120, 600)),
            mem_limit_mb=float(rng.choice([1024, 2048])),
            db_system=db,
        )
        layers[layer].append(name)
        return name

    w = iter(words)
    for _ in range(n_entry):
        add(next(w), "entry", 0, str(rng.choice(_ENTRY_ROLES)))
    per_layer = np.array_split(np.arange(n_mid), n_layers)
    for li, chunk in enumerate(per_layer, start=1):
        for _ in chunk:
            add(next(w), "mid", li, str(rng.choice(_MID_ROLES)))
    data_layer = n_layers + 1
    roles = list(_DATA_ROLES)
    for _ in range(n_data):
        role = str(rng.choice(roles))
        add(next(w), "data", data_layer, role, _DATA_ROLES[role])

    fanout: dict[tuple[str, str], float] = {}
    mids = [s for layer in layers[1:data_layer] for s in layer]
    datas = layers[data_layer]
    # every mid service has a caller one layer up (entries for layer 1)
    for li in range(1, data_layer):
        for s in layers[li]:
            caller = str(rng.choice(layers[li - 1]))
            fanout[(caller, s)] = float(rng.uniform(0.5, 1.5))
    # extra down-tier calls: wide at the top, narrow below
    for s in layers[0] + mids:
        spec = services[s]
        below = [m for m in mids if services[m].layer > spec.layer]
        extra = int(rng.integers(1, 4)) if spec.tier == "entry" else int(rng.integers(0, 3))
        for b in rng.permutation(below)[:extra] if below else []:
            fanout.setdefault((s, str(b)), float(rng.uniform(0.2, 1.2)))
    # data services: each has at least one caller, a mid service in the last app layers
    app = mids or layers[0]
    for d in datas:
        fanout[(str(rng.choice(app)), d)] = float(rng.uniform(0.8, 2.0))
    for s in mids:
        if not any(a == s for a, _ in fanout) and rng.random() < 0.6 and datas:
            fanout[(s, str(rng.choice(datas)))] = float(rng.uniform(0.8, 2.0))
    return Topology(services=services, fanout=fanout)
