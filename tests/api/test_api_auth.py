"""Access control: roles on every route, local-only mode without tokens, start-up safety."""

from __future__ import annotations

import pytest
from rca_fakes import ADMIN_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN, FakeService, bearer, fake_settings

from rca_service.api.auth import AccessControl, Role, check_bind_safety, parse_api_tokens, parse_slack_roles
from rca_service.errors import AuthError, ConfigError

MUTATING = [
    ("post", "/api/v1/remediations/rem-3/approve", Role.OPERATOR),
    ("post", "/api/v1/remediations/rem-3/reject", Role.OPERATOR),
    ("post", "/api/v1/remediations/rem-3/apply", Role.OPERATOR),
    ("post", "/api/v1/incidents/{inc}/rca", Role.OPERATOR),
]
READS = ["/api/v1/incidents", "/api/v1/incidents/{inc}", "/api/v1/incidents/{inc}/rca", "/api/v1/topology",
         "/api/v1/remediations", "/api/v1/audit", "/api/v1/audit/verify", "/api/v1/services",
         "/api/v1/services/ledger-db/status", "/api/v1/incidents/{inc}/timeseries"]
TOKEN_OF = {Role.VIEWER: VIEWER_TOKEN, Role.OPERATOR: OPERATOR_TOKEN, Role.ADMIN: ADMIN_TOKEN}


@pytest.mark.parametrize("path", READS)
def test_reads_need_a_valid_token_when_tokens_are_configured(secured, path):
    svc, c = secured
    url = path.format(inc=svc.incidents[1].id)
    missing = c.get(url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert c.get(url, headers=bearer("wrong-token-0123456789")).status_code == 401
    assert c.get(url, headers={"Authorization": f"Basic {VIEWER_TOKEN}"}).status_code == 401
    assert c.get(url, headers=bearer(VIEWER_TOKEN)).status_code == 200


@pytest.mark.parametrize("method,path,needed", MUTATING)
@pytest.mark.parametrize("role", list(Role))
def test_mutating_routes_check_the_role(method, path, needed, role):
    from fastapi.testclient import TestClient

    from rca_service.api.app import create_app

    svc = FakeService(fake_settings(api_tokens=f"{VIEWER_TOKEN}:viewer,{OPERATOR_TOKEN}:operator,{ADMIN_TOKEN}:admin"))
    if path.endswith("/apply"):
        svc.remediations[2].status = "approved"  # so the policy lets an allowed role through
    url = path.format(inc=svc.incidents[1].id)
    with TestClient(create_app(svc)) as c:
        assert getattr(c, method)(url).status_code == 401  # no token at all
        resp = getattr(c, method)(url, headers=bearer(TOKEN_OF[role]))
    if role >= needed:
        assert resp.status_code == 200, resp.text
    else:
        assert resp.status_code == 403
        assert needed.label in resp.json()["detail"]
        assert svc.audit == []  # nothing was done


def test_without_tokens_reads_work_but_approve_and_apply_are_refused(client, service):
    assert client.get("/api/v1/incidents").status_code == 200
    for verb in ("approve", "apply"):
        resp = client.post(f"/api/v1/remediations/rem-3/{verb}")
        assert resp.status_code == 403
        assert "no API tokens are configured" in resp.json()["detail"]
    assert [r.status for r in service.remediations] == ["applied", "proposed", "proposed"]
    assert service.audit == []
    # rejecting is the safe direction and stays possible for the local user
    assert client.post("/api/v1/remediations/rem-3/reject", json={"reason": "not now"}).json()["status"] == "rejected"
    assert service.audit[-1]["user"] == "local" and service.audit[-1]["reason"] == "not now"


def test_decisions_carry_the_token_name_and_role(secured):
    svc, c = secured
    body = c.post("/api/v1/remediations/rem-3/approve", headers=bearer(OPERATOR_TOKEN)).json()
    assert body["status"] == "approved" and body["approvals"] == ["otto"]
    me = c.get("/api/v1/whoami", headers=bearer(VIEWER_TOKEN)).json()
    assert me == {"name": "vera", "role": "viewer", "authenticated": True, "can_remediate": False}
    assert c.get("/api/v1/whoami", headers=bearer(ADMIN_TOKEN)).json()["can_remediate"] is True


def test_token_parsing():
    tokens = parse_api_tokens(f" {VIEWER_TOKEN}:viewer:vera , {ADMIN_TOKEN}:ADMIN ")
    assert tokens[VIEWER_TOKEN].name == "vera" and tokens[VIEWER_TOKEN].role is Role.VIEWER
    assert tokens[ADMIN_TOKEN].role is Role.ADMIN and tokens[ADMIN_TOKEN].name == "token-2"
    for bad in ("onlytoken", f"{VIEWER_TOKEN}:root", "short:viewer", f"{VIEWER_TOKEN}:viewer,{VIEWER_TOKEN}:admin",
                f"{VIEWER_TOKEN}:viewer:a:b"):
        with pytest.raises(ConfigError):
            parse_api_tokens(bad)
    assert parse_slack_roles("U1:operator, U2:admin") == {"U1": Role.OPERATOR, "U2": Role.ADMIN}
    with pytest.raises(ConfigError):
        parse_slack_roles("U1")


def test_access_control_never_accepts_a_prefix_or_empty_token():
    ac = AccessControl(f"{OPERATOR_TOKEN}:operator")
    assert ac.authenticate(f"Bearer {OPERATOR_TOKEN}").role is Role.OPERATOR
    for header in (f"Bearer {OPERATOR_TOKEN[:-1]}", f"Bearer {OPERATOR_TOKEN}x", "Bearer ", "Bearer", ""):
        with pytest.raises(AuthError):
            ac.authenticate(header)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.org"])
def test_bind_safety_refuses_open_hosts_without_tokens(host):
    with pytest.raises(ConfigError, match="no API tokens"):
        check_bind_safety(fake_settings(host=host))
    check_bind_safety(fake_settings(host=host, api_tokens=f"{ADMIN_TOKEN}:admin"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_bind_safety_allows_loopback_without_tokens(host):
    check_bind_safety(fake_settings(host=host))


def test_bind_safety_rejects_malformed_role_settings():
    with pytest.raises(ConfigError):
        check_bind_safety(fake_settings(slack_roles="U1:superuser"))


def test_bind_safety_accepts_the_real_settings_object():
    from rca_service.settings import Settings

    check_bind_safety(Settings())
    with pytest.raises(ConfigError):
        check_bind_safety(Settings(host="0.0.0.0"))
