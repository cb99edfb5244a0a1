"""Parent/child span pairing state for the service graph, bounded.

A child span whose parent lives in another service makes an edge parent service -> child
service (the Collector's servicegraph connector pairs client and server spans the same way,
by the client's span id = the server span's parent id). Parents often arrive after their
children (children end first) or in a later batch, so children wait in `pending_children`;
client spans naming a peer wait in `pending_clients` and become an edge to a virtual peer node
when no server span claims them before their step closes.

It also remembers, for each parent span, which of its outgoing calls started last
(`last_calls`). When the parent's step closes that call is counted as the one its request
ended with: a caller that gives up after a failing callee ends its requests there, which is how
a code fault shows in traces that carry no error status.
"""

from __future__ import annotations

from itertools import islice

# pending child: (service, is_error, duration, step start, kind)
PendingChild = tuple[str, bool, float, int, int]
# indexed span: (service, is_error, duration, is CLIENT span)
IndexedSpan = tuple[str, bool, float, bool]
# pending client: (service, peer, is_error, duration, step start)
PendingClient = tuple[str, str, bool, float, int]
# last call of a parent span: (start, client span id, caller, peer service or None, step start)
LastCall = tuple[float, str, str, str | None, int]

# Span kinds whose spans may be entry spans of a service without SERVER spans.
ENTRY_KINDS = (0, 1)


def add_edge(edges: dict[tuple[str, str], list[float]], src: str, dst: str, failed: bool, duration: float,
             gap: float | None = None) -> None:
    """Count one call src -> dst.

    `duration` is the callee's span; `gap` (when the caller's CLIENT span is known) is the
    caller's client span minus it: time on the wire and in queues, where a network fault shows.
    """
    acc = edges.get((src, dst))
    if acc is None:
        # calls, failed, callee seconds, gap seconds, calls with a gap, calls that ended their request
        edges[(src, dst)] = [1, 1 if failed else 0, duration, 0.0 if gap is None else gap, 0 if gap is None else 1, 0]
    else:
        acc[0] += 1
        if failed:
            acc[1] += 1
        acc[2] += duration
        if gap is not None:
            acc[3] += gap
            acc[4] += 1


def call_gap(parent: IndexedSpan, child_duration: float, child_kind: int) -> float | None:
    """Client span minus server span of one call, or None when the pair is not client -> server.

    Producer/consumer pairs are left out: a consumer may run long after the producer returned.
    """
    if not parent[3] or child_kind not in (0, 1, 2):
        return None
    return max(parent[2] - child_duration, 0.0)


def _evict_oldest(d: dict, keep: int) -> list:
    """Remove the oldest entries of an insertion-ordered dict down to `keep`; return their values."""
    n = len(d) - keep
    if n <= 0:
        return []
    keys = list(islice(iter(d), n))
    return [d.pop(k) for k in keys]


class SpanPairing:
    """Recent spans by id, children waiting for a parent, clients waiting for a server span.

    Args:
        index_size: spans remembered by id (oldest forgotten first).
        pending_size: bound of each of the two waiting lists.
    """

    def __init__(self, index_size: int, pending_size: int) -> None:
        self.index_size = index_size
        self.pending_size = pending_size
        self.index: dict[str, IndexedSpan] = {}
        self.pending_children: dict[str, list[PendingChild]] = {}
        self.pending_clients: dict[str, PendingClient] = {}
        self.last_calls: dict[str, LastCall] = {}  # parent span id -> its latest-starting call
        # client span id -> (service of the server span it called, that span's step start)
        self.callee_of: dict[str, tuple[str, int]] = {}

    def trim(self) -> tuple[list[PendingChild], list[PendingClient]]:
        """Bound the indexes; return the waiting children and clients that were pushed out."""
        # Drop a tenth more than needed so trimming happens once per many batches.
        if len(self.index) > self.index_size:
            _evict_oldest(self.index, self.index_size - self.index_size // 10)
        for d in (self.last_calls, self.callee_of):
            if len(d) > self.pending_size:
                _evict_oldest(d, self.pending_size - self.pending_size // 10)
        children: list[PendingChild] = []
        if len(self.pending_children) > self.pending_size:
            for lst in _evict_oldest(self.pending_children, self.pending_size - self.pending_size // 10):
                children.extend(lst)
        clients: list[PendingClient] = []
        if len(self.pending_clients) > self.pending_size:
            clients = _evict_oldest(self.pending_clients, self.pending_size - self.pending_size // 10)
        return children, clients

    def expire(self, until: int) -> tuple[list[PendingChild], list[PendingClient]]:
        """Give up waiting for spans of steps starting before `until` (their step closed)."""
        children: list[PendingChild] = []
        dead = []
        for pid, lst in self.pending_children.items():
            keep = [c for c in lst if c[3] >= until]
            if len(keep) != len(lst):
                children.extend(c for c in lst if c[3] < until)
                if keep:
                    self.pending_children[pid] = keep
                else:
                    dead.append(pid)
        for pid in dead:
            del self.pending_children[pid]
        clients = [c for c in self.pending_clients.values() if c[4] < until]
        if clients:
            self.pending_clients = {k: c for k, c in self.pending_clients.items() if c[4] >= until}
        return children, clients

    def take_request_ends(self, until: int) -> list[tuple[str, str, int]]:
        """(caller, callee, step start) of the last call of each parent whose step closed.

        A request whose step closes between two of its calls (it straddles the boundary and the
        later call arrives after the close) counts twice: rare at steps of a minute, and it only
        blurs the share, never invents an end.
        """
        done = [k for k, c in self.last_calls.items() if c[4] < until]
        out = []
        for k in done:
            _, client_id, caller, peer, st = self.last_calls.pop(k)
            callee = self.callee_of.get(client_id, (peer, 0))[0]
            if callee and callee != caller:
                out.append((caller, callee, st))
        # a call answered in a closed step is nobody's open last call any more
        self.callee_of = {k: v for k, v in self.callee_of.items() if v[1] >= until}
        return out
