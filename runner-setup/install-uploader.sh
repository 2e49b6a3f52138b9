#!/usr/bin/env bash
# Install the crashbot uploader as a systemd service on a Linux game host. Idempotent.
# Usage: sudo ./install-uploader.sh [--dry-run] --spec SPEC OWNER/REPO CRASH_DIR [CRASH_DIR...]
# SPEC is what pip installs: the wheel CI builds (dist/crashbot-*.whl), a git URL
# (git+https://github.com/OWNER/crashbot@COMMIT) or a checkout directory. A bare name (crashbot,
# crashbot==1.0) is refused: crashbot is not published on PyPI, and as root pip would install whatever
# someone later publishes under that name.
set -euo pipefail
usage="usage: $0 [--dry-run] --spec WHEEL|GIT-URL|DIR OWNER/REPO CRASH_DIR..."
dry=""
spec=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --dry-run) dry="echo would run:"; shift ;;
        --spec) [ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }; spec=$2; shift 2 ;;
        --spec=*) spec=${1#--spec=}; shift ;;
        *) break ;;
    esac
done
[ "$#" -ge 2 ] || { echo "$usage" >&2; exit 2; }
# The same rule as runner-setup/CrashbotSpec.ps1 (a test keeps the two patterns equal): a path or URL
# (has a slash), the current/parent directory, or a wheel/sdist file name.
spec_pattern='[/\\]|^[.]{1,2}$|[.](whl|zip|tar[.]gz)$'
if [ -z "$spec" ]; then
    echo "install-uploader: pass --spec with the crashbot wheel, git URL or checkout to install (e.g. --spec ./dist/crashbot-0.1.0-py3-none-any.whl)" >&2
    exit 2
fi
if ! [[ $spec =~ $spec_pattern ]]; then
    echo "install-uploader: --spec '$spec' is a bare package name and crashbot is not published on PyPI: pass the wheel path (dist/crashbot-*.whl), a git URL (git+https://github.com/OWNER/crashbot@COMMIT) or a checkout directory" >&2
    exit 2
fi
case "$spec" in
    *://*|git+*) ;;
    *) [ -e "$spec" ] || { echo "install-uploader: --spec '$spec' does not exist: pass the path of the crashbot wheel or checkout" >&2; exit 2; }
       spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec") ;;
esac
repo=$1; shift
case "$repo" in
    */*) ;;
    *) echo "install-uploader: the first argument must be the server repository, OWNER/REPO (got '$repo')" >&2; exit 2 ;;
esac
[ -n "$dry" ] || [ "$(id -u)" -eq 0 ] || { echo "install-uploader: run as root (sudo)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

id crashbot >/dev/null 2>&1 || $dry useradd --system --home /var/lib/crashbot --shell /usr/sbin/nologin crashbot
[ -x /opt/crashbot/venv/bin/python ] || $dry python3 -m venv /opt/crashbot/venv
$dry /opt/crashbot/venv/bin/pip install --upgrade "$spec"
$dry install -d -m 750 -o root -g crashbot /etc/crashbot
# Secrets are systemd credentials (LoadCredential= in crashbot-watch.service): files only root reads;
# systemd hands the service a private copy. Every file the unit loads must exist; unused ones stay empty.
$dry install -d -m 700 -o root -g root /etc/crashbot/credentials
for name in CRASHBOT_TOKEN CRASHBOT_APP_PRIVATE_KEY CRASHBOT_SIGNING_KEY; do
    [ -f "/etc/crashbot/credentials/$name" ] || $dry install -m 600 -o root -g root /dev/null "/etc/crashbot/credentials/$name"
done
# An earlier install kept secrets in an EnvironmentFile; the unit no longer reads it: carry them over.
if [ -f /etc/crashbot/secrets.env ] && [ -z "$dry" ]; then
    while IFS='=' read -r key value; do
        case "$key" in
            CRASHBOT_TOKEN|CRASHBOT_APP_PRIVATE_KEY|CRASHBOT_SIGNING_KEY)
                [ -s "/etc/crashbot/credentials/$key" ] || printf '%s' "$value" >"/etc/crashbot/credentials/$key" ;;
        esac
    done </etc/crashbot/secrets.env
    echo "install-uploader: copied /etc/crashbot/secrets.env into /etc/crashbot/credentials/; delete secrets.env" >&2
fi
echo "install-uploader: put the signing key into /etc/crashbot/credentials/CRASHBOT_SIGNING_KEY and either a token into CRASHBOT_TOKEN or, when crashbot.toml sets github.app_id, the App's .pem into CRASHBOT_APP_PRIVATE_KEY (same folder)" >&2
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
