"""Log records into per-step counts and drain3 templates (one template miner per service).

Each record is classified by severity (ERROR >= 17, WARN 13..16, or an error-like severity text
when the number is unset), mined into a drain3 template, and counted in its step. A record whose
template was first seen in the record's own step counts as new (`log.new_templates`).
The drain3 state is saved as plain JSON (its own snapshots use jsonpickle, which can build
arbitrary objects when loaded).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from drain3 import TemplateMiner
from drain3.drain import LogCluster, LogClusterCache, Node
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from rca_service.records import LogRecord
from rca_service.store.api import LogTemplate
from rca_service.store.config import StoreConfig
from rca_service.store.windows import StepTable

ERROR_SEVERITY = 17
WARN_SEVERITY = 13
_ERROR_TEXTS = frozenset({"ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "SEVERE", "ALERT", "EMERG", "EMERGENCY", "PANIC"})
_WARN_TEXTS = frozenset({"WARN", "WARNING"})
MAX_BODY_CHARS = 2000

# Masks applied before mining so ids and addresses do not split templates.
_MASKS = [
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(:\d+)?((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([a-fA-F0-9]{16,})((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+(\.\d+)?)((?=[^A-Za-z0-9])|$)", "NUM"),
]


def severity_class(severity: int, severity_text: str) -> int:
    """2 for error, 1 for warn, 0 otherwise."""
    if severity >= ERROR_SEVERITY:
        return 2
    if severity >= WARN_SEVERITY:
        return 1
    if severity == 0 and severity_text:
        t = severity_text.strip().upper()
        if t in _ERROR_TEXTS:
            return 2
        if t in _WARN_TEXTS:
            return 1
    return 0


def _miner(config: StoreConfig) -> TemplateMiner:
    cfg = TemplateMinerConfig()
    cfg.drain_sim_th = config.drain_sim_th
    cfg.drain_depth = config.drain_depth
    cfg.drain_max_clusters = config.drain_max_clusters
    cfg.masking_instructions = [MaskingInstruction(p, m) for p, m in _MASKS]
    return TemplateMiner(persistence_handler=None, config=cfg)


def _node_to_json(node: Node) -> dict:
    return {"c": list(node.cluster_ids), "k": {tok: _node_to_json(ch) for tok, ch in node.key_to_child_node.items()}}


def _node_from_json(d: dict) -> Node:
    n = Node()
    n.cluster_ids = [int(c) for c in d["c"]]
    n.key_to_child_node = {tok: _node_from_json(ch) for tok, ch in d["k"].items()}
    return n


class LogAccumulator:
    """Adds log records to a `StepTable` and keeps templates per service.

    Args:
        config: the store's config (drain3 settings).
        table: where per-step accumulators live.
        on_new_template: called with each LogTemplate whose text is new (created or generalised).
        on_resource: called (service, resource, time) once per resource object and batch.
    """

    def __init__(self, config: StoreConfig, table: StepTable,
                 on_new_template: Callable[[LogTemplate], None] | None = None,
                 on_resource: Callable[[str, dict, float], None] | None = None) -> None:
        self.config = config
        self.on_resource = on_resource
        self.table = table
        self.miners: dict[str, TemplateMiner] = {}
        self.templates: dict[str, LogTemplate] = {}  # template_id -> template
        self.on_new_template = on_new_template

    def _miner_of(self, service: str) -> TemplateMiner:
        m = self.miners.get(service)
        if m is None:
            m = self.miners[service] = _miner(self.config)
        return m

    def consume(self, logs: list[LogRecord], lo: float, hi: float) -> tuple[int, float]:
        """Add records with lo <= time <= hi; return (records dropped, newest time seen)."""
        dropped = 0
        newest = -math.inf
        table = self.table
        seen_res: set[int] = set()
        for r in logs:
            t = r.time
            if t < lo or t > hi:
                dropped += 1
                continue
            if r.resource and self.on_resource is not None and id(r.resource) not in seen_res:
                seen_res.add(id(r.resource))
                self.on_resource(r.service, r.resource, t)
            newest = max(newest, t)
            st = table.align(t)
            b = table.bucket(r.service, st)
            cls = severity_class(r.severity, r.severity_text)
            is_err = cls == 2
            b.n_logs += 1
            if is_err:
                b.n_log_error += 1
            elif cls == 1:
                b.n_log_warn += 1
            result = self._miner_of(r.service).add_log_message((r.body or "")[:MAX_BODY_CHARS])
            cid = int(result["cluster_id"])
            tid = f"{r.service}:{cid}"
            tpl = self.templates.get(tid)
            change = result["change_type"]
            if tpl is None:
                tpl = self.templates[tid] = LogTemplate(tid, r.service, result["template_mined"], t, t, 0, 0)
            elif change == "cluster_template_changed":
                tpl.template = result["template_mined"]
            tpl.count += 1
            if is_err:
                tpl.error_count += 1
            tpl.first_seen = min(tpl.first_seen, t)
            tpl.last_seen = max(tpl.last_seen, t)
            if table.align(tpl.first_seen) == st:
                b.n_log_new += 1
            acc = b.templates.get(cid)
            if acc is None:
                b.templates[cid] = [1, 1 if is_err else 0]
            else:
                acc[0] += 1
                if is_err:
                    acc[1] += 1
            if change != "none" and self.on_new_template is not None:
                self.on_new_template(tpl)
        return dropped, newest

    def query(self, service: str | None, start: float | None, end: float | None) -> list[LogTemplate]:
        """Templates with occurrences in [start, end); counts are those of the range.

        `first_seen`/`last_seen` stay the template's overall times, so a template first seen
        inside an incident window reads as new.
        """
        if start is None and end is None:
            return sorted((LogTemplate(**vars(t)) for t in self.templates.values()
                           if service is None or t.service == service), key=lambda t: (t.service, -t.count))
        counts: dict[str, list[int]] = {}
        for sd in self.table.range(start, end):
            for svc, b in sd.services.items():
                if (service is not None and svc != service) or not b.templates:
                    continue
                for cid, (c, e) in b.templates.items():
                    acc = counts.setdefault(f"{svc}:{cid}", [0, 0])
                    acc[0] += c
                    acc[1] += e
        out = []
        for tid, (c, e) in counts.items():
            tpl = self.templates.get(tid)
            if tpl is not None:
                out.append(LogTemplate(tid, tpl.service, tpl.template, tpl.first_seen, tpl.last_seen, c, e))
        return sorted(out, key=lambda t: (t.service, -t.count))

    def drop_before(self, t: float, services_alive: set[str]) -> None:
        """Forget templates not seen since `t`, and the miners of services no longer held.

        drain3 bounds its own clusters per service; this bounds the number of services.
        """
        self.templates = {k: v for k, v in self.templates.items() if v.last_seen >= t}
        self.miners = {s: m for s, m in self.miners.items() if s in services_alive}

    def to_json(self) -> dict:
        miners = {}
        for svc, m in self.miners.items():
            d = m.drain
            miners[svc] = {
                "counter": d.clusters_counter,
                "clusters": [[c.cluster_id, list(c.log_template_tokens), c.size] for c in d.id_to_cluster.values()],
                "tree": _node_to_json(d.root_node),
            }
        return {"miners": miners, "templates": [vars(t) for t in self.templates.values()]}

    def load_json(self, data: dict) -> None:
        """Restore the state written by `to_json`."""
        for svc, md in data.get("miners", {}).items():
            m = self._miner_of(svc)
            d = m.drain
            d.clusters_counter = int(md["counter"])
            d.root_node = _node_from_json(md["tree"])
            cache = {} if d.max_clusters is None else LogClusterCache(maxsize=d.max_clusters)
            for cid, tokens, size in md["clusters"]:
                c = LogCluster(tokens, int(cid))
                c.size = int(size)
                cache[int(cid)] = c
            d.id_to_cluster = cache
        self.templates = {t["template_id"]: LogTemplate(**t) for t in data.get("templates", [])}
