#!/usr/bin/env bash
# Set up a fresh checkout and run the whole test suite: the README's test command.
#
# Installs the Debian speech synthesisers the voice tests use (espeak-ng, flite) and the
# C# compiler and runtime that compile and exercise the Unity package (mono-mcs) and the
# headless Chromium that runs the Godot 4 demo in the official web build, when missing,
# makes .venv, installs the CPU build of torch FIRST (a bare `torch`
# requirement would pull a multi-GB CUDA build), then the package with its dev extras,
# then runs ruff, mypy --strict and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
[ -e /usr/lib/x86_64-linux-gnu/libespeak-ng.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libespeak-ng.so.1 ] \
  || need_apt+=(libespeak-ng1)
command -v flite >/dev/null 2>&1 || need_apt+=(flite)
command -v mcs >/dev/null 2>&1 || need_apt+=(mono-mcs)  # compiles the Unity package (tests/clients)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)  # runs the Godot 4 web demo (tests/clients)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  echo "installing Debian packages: ${need_apt[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[dev]'

.venv/bin/ruff check lpm_bridge tests bench
.venv/bin/mypy lpm_bridge
.venv/bin/python -m pytest -q "$@"
