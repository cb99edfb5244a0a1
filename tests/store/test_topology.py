"""Service call graph: edges with calls/errors per time range, cross-batch pairing, virtual peers."""

from __future__ import annotations

import pytest

from rca_service.records import SpanKind

from .conftest import T0, span


def _call(caller: str, callee: str, t: float, *, client_error=False, server_error=False, dur=0.1):
    """A client span in `caller` and the server span it caused in `callee`."""
    c = span(caller, t, dur + 0.01, SpanKind.CLIENT, error=client_error, peer=callee)
    s = span(callee, t + 0.005, dur, SpanKind.SERVER, parent=c.span_id, error=server_error)
    return c, s


def test_edges_count_calls_and_errors_in_a_range(store):
    spans = []
    for i in range(10):  # step 0: 10 calls a -> b, 2 failed on the client side, 1 on the server side
        spans += _call("a", "b", T0 + i, client_error=i < 2, server_error=i == 9)
    for i in range(5):  # step 1: 5 calls b -> c
        spans += _call("b", "c", T0 + 60 + i, dur=0.2)
    store.consume_spans(spans)
    g = store.topology(T0, T0 + 60)
    assert set(g.edges) == {("a", "b")}
    e = g.edges["a", "b"]
    assert e["calls"] == 10 and e["errors"] == 3
    assert e["latency_sum"] == pytest.approx(1.0)
    g = store.topology()
    assert set(g.edges) == {("a", "b"), ("b", "c")}
    assert g.edges["b", "c"]["calls"] == 5
    assert not any(g.nodes[n]["virtual"] for n in g.nodes)
    assert set(store.topology(T0 + 60, T0 + 120).edges) == {("b", "c")}


def test_pairing_across_batches_in_either_order(store):
    c1, s1 = _call("a", "b", T0 + 1)
    c2, s2 = _call("a", "b", T0 + 2, server_error=True)
    store.consume_spans([s1])  # the child ends first and arrives first
    store.consume_spans([c1, c2])
    store.consume_spans([s2])  # the parent arrived before this child
    store.close_until(T0 + 600)
    g = store.topology()
    assert g.edges["a", "b"]["calls"] == 2
    assert g.edges["a", "b"]["errors"] == 1
    assert "b" not in g.successors("b") and set(g.nodes) == {"a", "b"}  # no virtual peer for paired clients


def test_call_gap_is_client_span_minus_server_span_in_either_arrival_order(store):
    c1, s1 = _call("a", "b", T0 + 1, dur=0.1)            # client 0.11 s, server 0.10 s
    c2, s2 = _call("a", "b", T0 + 2, dur=0.3)            # client 0.31 s, server 0.30 s
    slow_c = span("a", T0 + 3, 0.5, SpanKind.CLIENT, peer="b")   # 0.4 s lost on the wire
    slow_s = span("b", T0 + 3.2, 0.1, SpanKind.SERVER, parent=slow_c.span_id)
    store.consume_spans([s1, c2, slow_c])  # s1's parent comes later, c2's child too
    store.consume_spans([c1, s2, slow_s])
    # a server span whose parent is another service's SERVER span: no client side, no gap
    root = span("a", T0 + 4, 0.9, SpanKind.SERVER)
    store.consume_spans([root, span("c", T0 + 4.1, 0.2, SpanKind.SERVER, parent=root.span_id)])
    store.close_until(T0 + 600)
    g = store.topology()
    e = g.edges["a", "b"]
    assert e["calls"] == 3 and e["gap_calls"] == 3
    assert e["gap_sum"] == pytest.approx(0.01 + 0.01 + 0.4)
    assert e["latency_sum"] == pytest.approx(0.5)
    assert g.edges["a", "c"]["calls"] == 1 and g.edges["a", "c"]["gap_calls"] == 0


def test_unpaired_client_spans_reach_a_virtual_peer(store):
    spans = [span("a", T0 + i, 0.01, SpanKind.CLIENT, peer="redis", error=(i == 0)) for i in range(3)]
    store.consume_spans(spans)
    store.close_until(T0 + 60)
    g = store.topology()
    assert g.edges["a", "redis"]["calls"] == 3 and g.edges["a", "redis"]["errors"] == 1
    assert g.nodes["redis"]["virtual"] is True and g.nodes["a"]["virtual"] is False
    assert "redis" not in store.services()


def test_open_step_shows_waiting_clients_tentatively_and_once(store):
    store.consume_spans([span("a", T0 + 1, 0.01, SpanKind.CLIENT, peer="mysql")])
    assert store.topology().edges["a", "mysql"]["calls"] == 1  # before its step closed
    store.close_until(T0 + 60)
    assert store.topology().edges["a", "mysql"]["calls"] == 1  # settled, not counted twice


def test_parent_child_without_kinds_makes_edges(store):
    root = span("front", T0 + 1, 1.0, SpanKind.UNSPECIFIED)
    mid = span("cart", T0 + 1.1, 0.5, SpanKind.UNSPECIFIED, parent=root.span_id)
    inner = span("cart", T0 + 1.2, 0.1, SpanKind.UNSPECIFIED, parent=mid.span_id)
    leaf = span("redis-cart", T0 + 1.3, 0.05, SpanKind.UNSPECIFIED, parent=inner.span_id, error=True)
    store.consume_spans([leaf, inner, mid, root])
    g = store.topology()
    assert set(g.edges) == {("front", "cart"), ("cart", "redis-cart")}
    assert g.edges["cart", "redis-cart"]["errors"] == 1


def test_pairing_index_stays_bounded():
    from rca_service.store.config import StoreConfig
    from rca_service.store.telemetry import TelemetryStore

    store = TelemetryStore(StoreConfig(step=60, span_index_size=1000, pending_size=500))
    for b in range(20):
        store.consume_spans([span("a", T0 + b, 0.01, SpanKind.CLIENT, parent=f"missing{b}-{i}", peer="x")
                             for i in range(200)])
    st = store.stats()
    assert st["span_index"] <= 1000 and st["pending_children"] <= 500 and st["pending_clients"] <= 500
    # clients pushed out of the waiting list still count as calls to their virtual peer
    store.close_until(T0 + 600)
    assert store.topology().edges["a", "x"]["calls"] == 4000


def test_wall_clock_closing_during_a_replay_keeps_cross_batch_pairs(store):
    import time

    c = span("a", T0 + 1, 0.2, SpanKind.CLIENT, peer="b.shop.svc.cluster.local")  # a peer name, not the service
    srv = span("b", T0 + 1.01, 0.1, SpanKind.SERVER, parent=c.span_id)
    store.consume_spans([srv])
    store.close_until(time.time())  # the live loop closes by the wall clock, far past this old data
    store.consume_spans([c])  # the parent arrives in the next batch
    g = store.topology()
    assert g.edges["a", "b"]["calls"] == 1
    assert set(g.nodes) == {"a", "b"}


def test_producer_consumer_spans_pair_like_client_server(store):
    p = span("orders", T0 + 1, 0.01, SpanKind.PRODUCER, peer="queue")
    c = span("shipping", T0 + 2, 0.3, SpanKind.CONSUMER, parent=p.span_id, error=True)
    store.consume_spans([p, c])
    store.close_until(T0 + 600)
    g = store.topology()
    assert set(g.edges) == {("orders", "shipping")} and g.edges["orders", "shipping"]["errors"] == 1
    f = store.frame("shipping", T0, T0 + 60)
    assert f.column("span.error_rate")[0] == 1.0 and f.meta["latency_source"] == "server"


def _request(caller: str, t: float, callees: list[str], *, peers: bool = True) -> list:
    """A SERVER span of `caller` calling `callees` one after another (client + server span each)."""
    root = span(caller, t, 1.0, SpanKind.SERVER)
    spans = [root]
    for k, callee in enumerate(callees):
        c = span(caller, t + 0.1 * (k + 1), 0.05, SpanKind.CLIENT, parent=root.span_id, peer=callee if peers else None)
        spans += [c, span(callee, t + 0.1 * (k + 1) + 0.01, 0.03, SpanKind.SERVER, parent=c.span_id)]
    return spans


@pytest.mark.parametrize("peers", [True, False])
def test_request_ends_count_the_call_each_request_ended_with(store, peers):
    spans = []
    for i in range(6):  # full requests: product, then currency, then ads
        spans += _request("front", T0 + i, ["product", "currency", "ads"], peers=peers)
    for i in range(4):  # requests that gave up after the product call
        spans += _request("front", T0 + 10 + i, ["product"], peers=peers)
    # arrival order must not matter: children before parents, the batch reversed
    store.consume_spans(spans[::-1])
    assert store.topology()["front"]["ads"]["ends"] == 0  # not counted before the step closes
    store.close_until(T0 + 60)
    g = store.topology()
    assert {e: g.edges[e]["ends"] for e in g.edges} == {("front", "product"): 4, ("front", "currency"): 0,
                                                         ("front", "ads"): 6}
    assert g.edges["front", "product"]["calls"] == 10
    pairing = store._spans.pairing  # nothing of the closed step is kept waiting
    assert not pairing.last_calls and not pairing.callee_of


def test_request_ends_survive_a_save_and_load(store, tmp_path):
    from rca_service.store.config import StoreConfig
    from rca_service.store.telemetry import TelemetryStore

    store.consume_spans(_request("front", T0, ["product", "ads"]))
    store.close_until(T0 + 60)
    store.save(tmp_path)
    again = TelemetryStore.load(tmp_path, StoreConfig(step=60))
    assert again.topology().edges["front", "ads"]["ends"] == 1
