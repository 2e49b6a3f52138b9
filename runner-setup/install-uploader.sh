#!/usr/bin/env bash
# Install the crashbot uploader as a systemd service on a Linux game host. Idempotent.
# Usage: sudo ./install-uploader.sh [--dry-run] OWNER/REPO CRASH_DIR [CRASH_DIR...]
set -euo pipefail
dry=""
if [ "${1:-}" = "--dry-run" ]; then dry="echo would run:"; shift; fi
[ "$#" -ge 2 ] || { echo "usage: $0 [--dry-run] OWNER/REPO CRASH_DIR..." >&2; exit 2; }
repo=$1; shift
case "$repo" in
    */*) ;;
    *) echo "install-uploader: the first argument must be the server repository, OWNER/REPO (got '$repo')" >&2; exit 2 ;;
esac
[ -n "$dry" ] || [ "$(id -u)" -eq 0 ] || { echo "install-uploader: run as root (sudo)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

id crashbot >/dev/null 2>&1 || $dry useradd --system --home /var/lib/crashbot --shell /usr/sbin/nologin crashbot
[ -x /opt/crashbot/venv/bin/crashbot ] || {
    $dry python3 -m venv /opt/crashbot/venv
    $dry /opt/crashbot/venv/bin/pip install --upgrade "${CRASHBOT_SPEC:-crashbot}"
}
$dry install -d -m 750 -o root -g crashbot /etc/crashbot
if [ ! -f /etc/crashbot/secrets.env ]; then
    $dry install -m 640 -o root -g crashbot /dev/null /etc/crashbot/secrets.env
    echo "install-uploader: put CRASHBOT_TOKEN=... and CRASHBOT_SIGNING_KEY=... into /etc/crashbot/secrets.env" >&2
fi
if [ ! -f /etc/crashbot/crashbot.toml ]; then
    dirs=$(printf '"%s", ' "$@"); dirs=${dirs%, }
    if [ -z "$dry" ]; then
        printf '[github]\nrepo = "%s"\n\n[uploader]\ncrash_dirs = [%s]\nspool = "/var/lib/crashbot/spool.sqlite3"\n' \
            "$repo" "$dirs" >/etc/crashbot/crashbot.toml
    else
        echo "would write /etc/crashbot/crashbot.toml with repo = $repo, crash_dirs = [$dirs]"
    fi
fi
for d in "$@"; do $dry setfacl -m u:crashbot:rx "$d" 2>/dev/null || echo "install-uploader: give user crashbot read access to $d" >&2; done
$dry install -m 644 "$here/crashbot-watch.service" /etc/systemd/system/crashbot-watch.service
$dry systemctl daemon-reload
$dry systemctl enable --now crashbot-watch.service
echo "install-uploader: done; check with: systemctl status crashbot-watch" >&2
