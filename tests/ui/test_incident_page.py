"""The incident page in headless Chromium against the API app served by uvicorn over a socket."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from rca_service.api.app import create_app
from rca_service.api.ui import UiConfig
from rca_service.errors import ConfigError
from rca_service.settings import Settings

from ui_service_double import HOSTILE_TEMPLATE, TRACE_IDS, ServiceDouble

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
OPERATOR, VIEWER = "op-token-123", "view-token-456"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, ServiceDouble]]:
    from netutil import free_port

    port = free_port()
    settings = Settings(data_dir=tmp_path_factory.mktemp("ui-data"), http_port=port,
                        api_tokens=f"{OPERATOR}:operator:olivia,{VIEWER}:viewer:victor")
    service = ServiceDouble(Path(settings.data_dir), settings)
    config = uvicorn.Config(create_app(service, manage_lifecycle=False), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", service
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent (scripts/setup.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and "status of 40" not in m.text else None)
    pg.js_errors = errors
    yield pg
    ctx.close()


def _use_token(page, token: str) -> None:
    """Paste a token into the page's token form, as a person would."""
    page.fill("#token-input", token)
    page.click("#token-form button[type=submit]")


def _open_incident(page, base: str, token: str = VIEWER) -> None:
    page.goto(f"{base}/ui/incidents/inc-test-0001")
    _use_token(page, token)
    page.wait_for_selector('body[data-rendered="true"]', timeout=15000)


def test_pages_and_static_files_are_served(server) -> None:
    base, _ = server
    r = httpx.get(f"{base}/ui")
    assert r.status_code == 200 and 'data-page="list"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(f"{base}/ui/incidents/inc-test-0001").status_code == 200
    missing = httpx.get(f"{base}/ui/incidents/%3Cscript%3Enope")
    assert missing.status_code == 404 and "<script>nope" not in missing.text
    js = httpx.get(f"{base}/ui/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{base}/ui/static/..%2Fui.py").status_code == 404
    assert httpx.get(f"{base}/ui/static/nothing.js").status_code == 404


def test_ui_config_rejects_unknown_keys_and_bad_values() -> None:
    assert UiConfig.from_dict({"refresh_seconds": 0}).refresh_seconds == 0
    with pytest.raises(ConfigError):
        UiConfig.from_dict({"colour": "red"})
    with pytest.raises(ConfigError):
        UiConfig(api_prefix="api/v1/")


def test_incident_list_links_to_the_incident(server, page) -> None:
    base, service = server
    page.goto(f"{base}/ui")
    # Reads need a viewer token here; the page says so instead of showing an empty list.
    page.wait_for_selector("#status.error", timeout=15000)
    assert "401" in page.inner_text("#status") and "token" in page.inner_text("#status")
    _use_token(page, VIEWER)
    row = page.locator('tr[data-incident="inc-test-0001"]')
    row.wait_for(timeout=15000)
    assert not page.is_visible("#status")
    assert "payments" in row.inner_text()
    row.locator("a").first.click()
    page.wait_for_url("**/ui/incidents/inc-test-0001")
    page.wait_for_selector('body[data-rendered="true"]', timeout=15000)
    page.js_errors.clear()  # the 401 before the token was pasted is expected


def test_incident_page_draws_graph_plots_evidence_and_audit(server, page) -> None:
    base, service = server
    _open_incident(page, base)
    page.wait_for_selector("svg.plot polyline", timeout=15000)

    # Topology: every service is a node; the top-ranked cause is highlighted as the root.
    nodes = page.locator("svg.topology g.node")
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.service)")) == sorted(service.graph.nodes)
    assert page.locator('g.node[data-role="root"]').evaluate_all("ns => ns.map(n => n.dataset.service)") == ["payments"]
    assert set(page.locator('g.node[data-role="anomalous"]').evaluate_all("ns => ns.map(n => n.dataset.service)")) == {"orders", "gateway"}
    # An incident that began while another was open links to it.
    assert page.locator("#related a").evaluate_all("as => as.map(a => a.getAttribute('href'))") == ["/ui/incidents/inc-test-0000"]
    # What it gained after it opened (each growth was ranked again).
    grew = page.locator("#updates").inner_text()
    assert grew.startswith("Grew after it opened: orders joined ") and ", payments new symptom " in grew
    assert page.locator('g.node[data-role="normal"]').count() == 2
    assert page.locator("svg.topology path.edge").count() == service.graph.number_of_edges()
    assert page.locator("svg.topology path.edge.err").count() >= 1  # orders→payments fails 20%
    # The root is drawn visibly differently (red stroke), not only tagged.
    root_stroke = page.locator('g.node[data-role="root"] rect').evaluate("r => getComputedStyle(r).stroke")
    normal_stroke = page.locator('g.node[data-role="normal"] rect').first.evaluate("r => getComputedStyle(r).stroke")
    assert root_stroke != normal_stroke

    # Plots: the root cause's signals, each a polyline, with the incident window shaded.
    assert page.locator('.plot-group[data-service="payments"] svg.plot[data-signal="span.error_rate"]').count() == 1
    plots = page.locator("svg.plot")
    assert plots.count() >= 3
    assert page.locator("svg.plot rect.window").count() == plots.count()
    # The gap (a None value) splits a series into two polylines.
    assert page.locator('svg.plot[data-signal="span.error_rate"]').first.locator("polyline").count() == 2

    # Verdict, ranked causes with confidence, evidence (log template as text, trace ids).
    assert "payments" in page.locator("#verdict").inner_text() and "86%" in page.locator("#verdict").inner_text()
    assert page.locator("#root-causes li.rc").count() == 3
    evidence = page.locator("#evidence").inner_text()
    assert HOSTILE_TEMPLATE in evidence and all(t in evidence for t in TRACE_IDS)
    assert page.locator("#main img").count() == 0 and page.evaluate("document.body.dataset.pwned") is None

    # Remediation and its audit trail.
    rem = page.locator('[data-remediation="rem-0001"]')
    assert "restart" in rem.inner_text() and rem.get_attribute("data-status") == "proposed"
    assert "would restart default/payments" in rem.inner_text()
    assert page.locator("#audit tbody tr").count() == 3
    assert "intact" in page.locator("#audit-verify").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-incident.png"), full_page=True)
    assert not page.js_errors


def test_approve_shows_refusals_then_succeeds_with_an_operator_token(server, page) -> None:
    base, service = server
    _open_incident(page, base, VIEWER)
    # A viewer may look but not approve: the API's refusal is shown as it said it.
    page.locator('[data-remediation="rem-0001"] button.approve').click()
    page.wait_for_selector('[data-remediation="rem-0001"] .decision.error', timeout=10000)
    refusal = page.locator('[data-remediation="rem-0001"] .decision').inner_text()
    assert "Refused" in refusal and "403" in refusal
    assert service.remediation.status == "proposed"

    _use_token(page, OPERATOR)
    page.locator('[data-remediation="rem-0001"] button.approve').click()
    page.wait_for_selector('[data-remediation="rem-0001"][data-status="approved"]', timeout=10000)
    assert service.remediation.status == "approved"
    assert "Approved" in page.locator('[data-remediation="rem-0001"] .decision').inner_text()
    # The approval is in the audit trail on the page, and the buttons are gone.
    page.wait_for_selector('#audit tr[data-kind="remediation_approved"]', timeout=10000)
    assert page.locator('[data-remediation="rem-0001"] button.approve').count() == 0
    assert page.locator('[data-remediation="rem-0001"] button.apply').count() == 1
