"""The incident page: server-rendered HTML shells filled in by hand-written JavaScript.

Routes (mounted by the API app):
    GET /ui                       incident list
    GET /ui/incidents/{id}        one incident: topology, ranked root causes, plots, evidence,
                                  remediation with approve/reject, audit trail
    GET /ui/static/{name}         the page's JS and CSS (package data; no CDN, no build step)

The pages hold no data themselves: the script reads the same JSON API every other client uses
(/api/v1/incidents, .../rca, .../timeseries, /api/v1/topology, /api/v1/remediations,
/api/v1/audit), so what a person sees is exactly what the API says. A pasted API token is kept
in the browser's sessionStorage and sent as a bearer token; the server never renders it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from rca_service.errors import ConfigError, NotFoundError

STATIC_DIR = Path(__file__).resolve().parent / "static"

_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}

# The page runs only our own script and style; nothing is loaded from elsewhere.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass
class UiConfig:
    """Settings of the incident page.

    Attributes:
        api_prefix: where the JSON API lives, as seen from the browser.
        title: product name in the page header.
        refresh_seconds: how often open pages poll the API (0 disables polling).
    """

    api_prefix: str = "/api/v1"
    title: str = "rca-service"
    refresh_seconds: int = 10

    def __post_init__(self) -> None:
        if not self.api_prefix.startswith("/") or self.api_prefix.endswith("/"):
            raise ConfigError(f"api_prefix must start with '/' and not end with one: {self.api_prefix!r}")
        if self.refresh_seconds < 0:
            raise ConfigError("refresh_seconds must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UiConfig":
        """Build from a mapping, refusing keys this config does not have."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"UiConfig: unknown keys {unknown}")
        return cls(**data)


def _page(cfg: UiConfig, *, page: str, title: str, incident_id: str = "") -> str:
    """The HTML shell shared by both pages; `page` tells the script what to draw."""
    esc = html.escape
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · {esc(cfg.title)}</title>
<link rel="stylesheet" href="/ui/static/ui.css">
<link rel="icon" href="data:,">
</head>
<body data-page="{esc(page)}" data-incident-id="{esc(incident_id)}" data-api="{esc(cfg.api_prefix)}"
      data-refresh="{cfg.refresh_seconds}">
<header class="top">
  <a class="brand" href="/ui">{esc(cfg.title)}</a>
  <nav><a href="/ui">Incidents</a></nav>
  <form id="token-form" class="token" autocomplete="off">
    <label for="token-input">API token</label>
    <input id="token-input" type="password" placeholder="paste a token to approve or reject">
    <button type="submit">Use</button>
    <button type="button" id="token-clear" title="forget the token">Clear</button>
    <span id="token-state" class="muted"></span>
  </form>
</header>
<main id="main">
  <p id="status" class="muted">Loading…</p>
</main>
<noscript><p class="error">This page needs JavaScript to read the API.</p></noscript>
<script src="/ui/static/svg.js"></script>
<script src="/ui/static/app.js"></script>
</body>
</html>
"""


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-store"})


def build_ui_router(service: Any, config: UiConfig | None = None) -> APIRouter:
    """The router serving the incident list, incident pages and their static files.

    Args:
        service: the RcaService facade; used only to answer 404 for an unknown incident
            before the browser loads anything (the data itself comes from the JSON API).
        config: page settings; defaults if None.
    """
    cfg = config or UiConfig()
    router = APIRouter(include_in_schema=False)
    static_files = {p.name: p for p in STATIC_DIR.iterdir() if p.suffix in _MEDIA_TYPES}

    @router.get("/ui", response_class=HTMLResponse)
    def incident_list() -> HTMLResponse:
        return _html(_page(cfg, page="list", title="Incidents"))

    @router.get("/ui/", response_class=HTMLResponse)
    def incident_list_slash() -> Response:
        return RedirectResponse("/ui", status_code=307)

    @router.get("/ui/incidents/{incident_id}", response_class=HTMLResponse)
    def incident_page(incident_id: str) -> HTMLResponse:
        try:
            incident = service.get_incident(incident_id)
        except NotFoundError:
            return _html(_page(cfg, page="missing", title="Not found", incident_id=incident_id), 404)
        title = getattr(incident, "title", "") or incident_id
        return _html(_page(cfg, page="incident", title=title, incident_id=incident_id))

    @router.get("/ui/static/{name}")
    def static(name: str) -> Response:
        # Only files that exist in the package folder, looked up by exact name: no path walking.
        path = static_files.get(name)
        if path is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})

    return router
