#!/usr/bin/env bash
# Creates .venv with everything the service, tests and benchmarks need, on a fresh machine.
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q -U pip
  # torch is pinned to the CPU build (2.13.0) in pyproject.toml
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
# Headless Chromium for the incident-page test (Debian package; no browser downloads).
if [ "${RCA_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the UI test will be skipped" >&2
  fi
fi
