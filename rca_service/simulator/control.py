"""The control interface a remediation executor uses to really repair the simulated system.

`Simulation` implements `SimulatorControl` in-process. When the simulator runs as a separate
process (`rca-service simulate --control-port N`), `ControlServer` exposes the same calls over
HTTP on 127.0.0.1 and `HttpSimulatorControl` is the client with the same interface:

    GET  /faults                         -> [{"kind", "service", "start", ...}]
    GET  /services                       -> {"services": [...], "edges": [[a, b], ...], "replicas": {name: n}}
    POST /faults/{service}/clear         -> {"ok": bool}
    POST /services/{service}/restart     -> {"ok": bool}
    POST /services/{service}/rollback    -> {"ok": bool}
    POST /services/{service}/scale       body {"replicas": n} -> {"ok": bool}
    POST /faults                         body {"kind", "service", "at"?, "duration"?} -> the fault
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable

import httpx

from rca_service.errors import ConfigError, NotFoundError, RcaError

log = logging.getLogger(__name__)


@runtime_checkable
class SimulatorControl(Protocol):
    """Repair actions on a simulated system. Unknown services raise `NotFoundError`."""

    def active_faults(self) -> list[dict]: ...

    def clear_fault(self, service: str) -> bool: ...

    def restart(self, service: str) -> bool: ...

    def scale_out(self, service: str, replicas: int) -> bool: ...

    def rollback(self, service: str) -> bool: ...


class _Handler(BaseHTTPRequestHandler):
    sim: Any = None  # set on the subclass made per server

    def log_message(self, fmt: str, *args: Any) -> None:  # route to logging, not stderr
        log.debug("control: " + fmt, *args)

    def _send(self, code: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        if not n:
            return {}
        data = json.loads(self.rfile.read(n))
        if not isinstance(data, dict):
            raise ConfigError("body must be a JSON object")
        return data

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["faults"]:
            return self._send(200, self.sim.active_faults())
        if parts == ["services"]:
            return self._send(200, {"services": self.sim.services, "edges": [list(e) for e in self.sim.topology.edges],
                                    "replicas": dict(self.sim.replicas)})
        return self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        try:
            body = self._body()
            if parts == ["faults"]:
                fault = self.sim.inject(body.get("kind", ""), body.get("service"), at=body.get("at"),
                                        duration=body.get("duration"))
                return self._send(200, fault.to_dict())
            if len(parts) == 3 and parts[0] == "faults" and parts[2] == "clear":
                return self._send(200, {"ok": self.sim.clear_fault(parts[1])})
            if len(parts) == 3 and parts[0] == "services":
                service, action = parts[1], parts[2]
                if action == "restart":
                    return self._send(200, {"ok": self.sim.restart(service)})
                if action == "rollback":
                    return self._send(200, {"ok": self.sim.rollback(service)})
                if action == "scale":
                    return self._send(200, {"ok": self.sim.scale_out(service, int(body.get("replicas", 2)))})
            return self._send(404, {"error": "not found"})
        except NotFoundError as exc:
            return self._send(404, {"error": str(exc)})
        except (RcaError, ValueError, TypeError, json.JSONDecodeError) as exc:
            return self._send(400, {"error": str(exc)})


class ControlServer:
    """The control endpoint for a running simulation, on 127.0.0.1 only.

    Args:
        sim: the simulation (anything with the SimulatorControl methods plus inject/services/topology).
        port: TCP port (0 = any free one; read `.port` after start).
    """

    def __init__(self, sim: Any, port: int = 0, host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError("the control endpoint binds to loopback only")
        handler = type("BoundHandler", (_Handler,), {"sim": sim})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-control", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class HttpSimulatorControl:
    """`SimulatorControl` over HTTP, for a simulator running in another process."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def _post(self, path: str, body: dict | None = None) -> dict:
        r = self._client.post(path, json=body or {})
        if r.status_code == 404:
            raise NotFoundError(r.json().get("error", path))
        if r.status_code >= 400:
            raise RcaError(r.json().get("error", f"HTTP {r.status_code}"))
        return r.json()

    def active_faults(self) -> list[dict]:
        return self._client.get("/faults").json()

    def replicas(self, service: str) -> int:
        """Replicas the service runs now (what scale_out last set)."""
        counts = self._client.get("/services").json()["replicas"]
        if service not in counts:
            raise NotFoundError(f"no service {service!r} in the simulation")
        return int(counts[service])

    def clear_fault(self, service: str) -> bool:
        return bool(self._post(f"/faults/{service}/clear")["ok"])

    def restart(self, service: str) -> bool:
        return bool(self._post(f"/services/{service}/restart")["ok"])

    def scale_out(self, service: str, replicas: int) -> bool:
        return bool(self._post(f"/services/{service}/scale", {"replicas": replicas})["ok"])

    def rollback(self, service: str) -> bool:
        return bool(self._post(f"/services/{service}/rollback")["ok"])

    def close(self) -> None:
        self._client.close()
