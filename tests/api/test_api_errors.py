"""Our errors map onto HTTP once, the same way on every route."""

from __future__ import annotations

from rca_fakes import OPERATOR_TOKEN, bearer

from rca_service.errors import ModelError


def test_not_found(secured):
    svc, c = secured
    h = bearer(OPERATOR_TOKEN)
    assert c.get("/api/v1/incidents/inc-missing", headers=h).json() == {"error": "NotFoundError", "detail": "no incident inc-missing"}
    assert c.get("/api/v1/incidents/inc-missing/rca", headers=h).status_code == 404
    assert c.post("/api/v1/remediations/rem-404/approve", headers=h).status_code == 404


def test_policy_refusal_is_409_naming_the_rule(secured):
    svc, c = secured
    resp = c.post("/api/v1/remediations/rem-2/approve", headers=bearer(OPERATOR_TOKEN))  # low confidence target
    assert resp.status_code == 409
    assert resp.json()["rule"] == "min_confidence"
    assert "0.34" in resp.json()["detail"]
    resp = c.post("/api/v1/remediations/rem-3/apply", headers=bearer(OPERATOR_TOKEN))  # not approved yet
    assert resp.status_code == 409 and resp.json()["rule"] == "approval_required"


def test_overload_is_503_with_retry_after(secured):
    svc, c = secured
    svc.overloaded = True
    resp = c.post("/api/v1/remediations/rem-3/approve", headers=bearer(OPERATOR_TOKEN))
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "3"  # 2.5 s rounded up


def test_unwired_and_unready_parts(secured):
    svc, c = secured

    def not_wired(*a, **k):
        raise NotImplementedError

    def no_model(*a, **k):
        raise ModelError("localizer weights missing")

    svc.topology = not_wired
    assert c.get("/api/v1/topology", headers=bearer(OPERATOR_TOKEN)).status_code == 501
    svc.rca = no_model
    resp = c.get(f"/api/v1/incidents/{svc.incidents[0].id}/rca", headers=bearer(OPERATOR_TOKEN))
    assert resp.status_code == 503 and "weights missing" in resp.json()["detail"]


def test_validation_errors_are_400(secured):
    svc, c = secured
    h = bearer(OPERATOR_TOKEN)
    assert c.get("/api/v1/incidents", params={"start": "yesterday"}, headers=h).status_code == 400
    assert c.get("/api/v1/incidents", params={"limit": 0}, headers=h).status_code == 400
    assert c.post("/api/v1/remediations/rem-3/reject", json={"reason": 5, "x": 1}, headers=h).status_code == 400


def test_oversized_bodies_are_413_before_anything_is_done(client, service):
    big = b'{"question": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    resp = client.post("/api/v1/query", content=big, headers={"content-type": "application/json"})
    assert resp.status_code == 413 and resp.json()["error"] == "PayloadTooLarge"

    def chunks():
        for _ in range(20):
            yield b"x" * 65536

    resp = client.post("/chatops/slack/commands", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 413
