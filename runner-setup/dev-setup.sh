#!/usr/bin/env bash
# Prepare a fresh Linux machine (or CI) to run crashbot's demo and test suite:
# the system tools the tests use for real (git, cmake, g++, gdb, bubblewrap) and a virtualenv with crashbot[dev].
# Idempotent: a second run only checks. Needs root or sudo the first time, to install missing tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# clang/lld/llvm build the Windows PE + PDB the symbols tests symbolicate; wine64 runs it to write a real
# minidump (Debian's wine64 puts its binary at /usr/lib/wine/wine64, not on PATH). bwrap is the fix
# sandbox (bot/build/sandbox.py).
# g++-mingw-w64 builds the demo server for Windows (Winsock, Win32 console handlers) for tests/windows.
# The shellcheck linter checks runner-setup/*.sh (.ci/run); visudo (sudo) and setfacl (acl) are what
# install-runner.sh runs for the deploy account, for real, in tests/test_runner_setup.py (visudo is in
# /usr/sbin, which a user's PATH may lack).
for tool in git cmake g++ gdb make clang++ lld-link llvm-symbolizer llvm-pdbutil bwrap x86_64-w64-mingw32-g++-posix \
    shellcheck visudo setfacl; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || need+=("$tool")
done
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null 2>&1 || need+=(wine64)
# install-runner.sh makes the runners' venvs with the system's python3 (tests/test_runner_setup.py).
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip'; } >/dev/null 2>&1 || need+=(python3-venv)
if ((${#need[@]})); then
    pkgs=()
    for tool in "${need[@]}"; do
        case "$tool" in
            g++) pkgs+=(g++) ;;
            clang++) pkgs+=(clang) ;;
            lld-link) pkgs+=(lld) ;;
            llvm-symbolizer | llvm-pdbutil) pkgs+=(llvm) ;;
            bwrap) pkgs+=(bubblewrap) ;; # the fix sandbox (bot/build/sandbox.py)
            x86_64-w64-mingw32-g++-posix) pkgs+=(g++-mingw-w64-x86-64) ;;
            visudo) pkgs+=(sudo) ;;
            setfacl) pkgs+=(acl) ;;
            *) pkgs+=("$tool") ;;
        esac
    done
    echo "dev-setup: installing ${pkgs[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq </dev/null
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    $sudo apt-get install -y -qq "${pkgs[@]}" </dev/null >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip </dev/null
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]' </dev/null
# The Windows interpreter tests/windows runs (official embeddable CPython under wine64; cached under
# ~/.cache/crashbot-wine, so a second run only checks). Without it those tests would skip.
./runner-setup/wine-setup.sh </dev/null
echo "dev-setup: ready (.venv, .venv/wine)" >&2
