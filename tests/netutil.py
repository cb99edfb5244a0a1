"""Small helpers shared by tests (a uniquely named module: `conftest` is ambiguous across folders)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http_ok(proc, url: str, timeout: float = 120.0, detail=lambda: "") -> None:
    """Poll `url` until it answers 200 while `proc` (a subprocess.Popen) keeps running.

    Fails the test when the process exits first or the timeout passes; `detail()` adds context
    to the failure (e.g. the tail of the process's log).
    """
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"process exited with {proc.returncode}:\n{detail()}"
        assert time.monotonic() < deadline, f"{url} never answered 200:\n{detail()}"
        time.sleep(0.2)
