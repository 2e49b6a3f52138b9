#!/usr/bin/env bash
# Prepare a fresh Linux machine (or CI) to run crashbot's demo and test suite:
# the system tools the tests use for real (git, cmake, g++, gdb) and a virtualenv with crashbot[dev].
# Idempotent: a second run only checks. Needs root or sudo the first time, to install missing tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in git cmake g++ gdb make; do
    command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
if ((${#need[@]})); then
    pkgs=()
    for tool in "${need[@]}"; do
        case "$tool" in
            g++) pkgs+=(g++) ;;
            *) pkgs+=("$tool") ;;
        esac
    done
    echo "dev-setup: installing ${pkgs[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq </dev/null
    $sudo apt-get install -y -qq "${pkgs[@]}" </dev/null >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip </dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' </dev/null
echo "dev-setup: ready (.venv)" >&2
