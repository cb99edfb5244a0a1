"""The JSON API's routes return the documented shapes, filled from the facade."""

from __future__ import annotations

from rca_fakes import NOW, OPERATOR_TOKEN, SERVICES, bearer


def test_health_and_ready_follow_the_service_flags(client, service):
    assert client.get("/healthz").json() == {"status": "ok", "accepting": True}
    assert client.get("/readyz").status_code == 200
    service.ready = False
    service.accepting = False
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 503


def test_topology_shape(client):
    body = client.get("/api/v1/topology", params={"start": NOW - 3600, "end": NOW}).json()
    assert {n["service"] for n in body["nodes"]} == {"storefront", "checkout-svc", "basketservice", "ledger-db"}
    edge = next(e for e in body["edges"] if e["source"] == "storefront")
    assert edge == {"source": "storefront", "target": "checkout-svc", "calls": 120, "errors": 3, "latency_sum": 4.5}
    assert client.get("/api/v1/topology", params={"start": NOW, "end": NOW - 1}).status_code == 400


def test_incident_list_filters_and_shape(client, service):
    body = client.get("/api/v1/incidents").json()
    assert body["count"] == 4 and [i["id"] for i in body["incidents"]] == [i.id for i in service.incidents]
    first = body["incidents"][0]
    assert {"id", "start", "end", "services", "status", "fingerprint"} <= set(first)
    assert first["services"]["ledger-db"]["signals"][0]["signal"] == "span.latency_p99"
    only_open = client.get("/api/v1/incidents", params={"status": "open"}).json()
    assert [i["status"] for i in only_open["incidents"]] == ["open"]
    billing = client.get("/api/v1/incidents", params={"service": "billing-api"}).json()
    assert [i["id"] for i in billing["incidents"]] == [service.incidents[2].id]
    assert client.get("/api/v1/incidents", params={"status": "sideways"}).status_code == 400


def test_incident_detail_rca_and_timeseries(client, service):
    inc = service.incidents[1]
    assert client.get(f"/api/v1/incidents/{inc.id}").json()["id"] == inc.id
    rca = client.get(f"/api/v1/incidents/{inc.id}/rca").json()
    assert rca["incident_id"] == inc.id and rca["inconclusive"] is False
    top = rca["root_causes"][0]
    assert (top["service"], top["kind"], top["confidence"]) == ("basketservice", "resource", 0.86)
    assert top["evidence"][0]["kind"] == "metric"
    ts = client.get(f"/api/v1/incidents/{inc.id}/timeseries").json()
    # default: the most anomalous service and the signals that scored for it
    assert ts["service"] == "checkout-svc" and list(ts["series"]) == ["span.latency_p99"]
    assert ts["window"] == [inc.start, inc.end] and ts["times"][0] < inc.start and ts["times"][-1] > inc.end
    assert ts["series"]["span.latency_p99"][0] is None  # missing stays missing, not zero
    picked = client.get(f"/api/v1/incidents/{inc.id}/timeseries",
                        params={"service": "basketservice", "signals": "metric.cpu_usage,span.error_rate"}).json()
    assert picked["service"] == "basketservice" and set(picked["series"]) == {"metric.cpu_usage", "span.error_rate"}


def test_rca_post_recomputes(client, service):
    inc = service.incidents[1]
    client.post(f"/api/v1/incidents/{inc.id}/rca")
    assert ("rca", inc.id, True) in service.calls


def test_query_route_returns_engine_answer(client):
    body = client.post("/api/v1/query", json={"question": "what broke at 14:05?", "now": NOW}).json()
    assert body["intent"] == "what_broke"
    assert body["root_causes"][0]["service"] == "basketservice"
    assert "86%" in body["answer"]
    assert {"answer", "intent", "service", "time_range", "incident_id", "root_causes", "evidence", "similar"} <= set(body)


def test_query_route_rejects_bad_bodies(client):
    assert client.post("/api/v1/query", json={"question": ""}).status_code == 400
    assert client.post("/api/v1/query", json={"question": "x" * 1001}).status_code == 400
    assert client.post("/api/v1/query", json={"question": "ok?", "extra": 1}).status_code == 400
    assert client.post("/api/v1/query", content=b"not json", headers={"content-type": "application/json"}).status_code == 400


def test_services_and_status(client):
    assert client.get("/api/v1/services").json()["services"] == sorted(SERVICES)
    status = client.get("/api/v1/services/ledger-db/status").json()
    assert status["anomalous"] is True and status["open_incidents"]
    assert client.get("/api/v1/services/nope/status").status_code == 404


def test_remediations_list_shape(client, service):
    inc4 = service.incidents[0].id
    rems = client.get("/api/v1/remediations", params={"incident": inc4}).json()["remediations"]
    assert [r["id"] for r in rems] == ["rem-2", "rem-3"]
    assert {"id", "incident_id", "action", "target", "target_label", "status"} <= set(rems[0])
    assert rems[0]["status"] == "proposed"


def test_audit_routes(secured):
    svc, c = secured
    c.post("/api/v1/remediations/rem-3/approve", headers=bearer(OPERATOR_TOKEN))
    records = c.get("/api/v1/audit", params={"incident": svc.incidents[0].id}, headers=bearer(OPERATOR_TOKEN)).json()
    assert records["records"][0]["kind"] == "remediation_approved"
    assert records["records"][0]["user"] == "otto"
    verify = c.get("/api/v1/audit/verify", headers=bearer(OPERATOR_TOKEN)).json()
    assert verify == {"ok": True, "records": 1, "first_bad": None, "reason": ""}
