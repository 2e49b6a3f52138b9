#!/usr/bin/env bash
# Install a self-hosted GitHub Actions runner for crashbot on a Linux host (Debian/Ubuntu), one role per
# account: the *fix* runner (label crashbot-fix) builds code an engine wrote, the *deploy* runner (label
# realm-<name>) stops and starts the live worldserver. Each role gets its own system account, home and
# _work (mode 0700, so the two cannot read each other's files), its own crashbot venv (root-owned: the
# account cannot change crashbot), and its own systemd service. The fix account gets no sudo at all; the
# deploy account gets exactly `systemctl start|stop|restart|kill --signal=SIGKILL <unit>` through a
# sudoers drop-in checked with `visudo -cf` (crashbot uses it with deploy.systemd_sudo = true).
#
# Usage: sudo --preserve-env=CRASHBOT_RUNNER_TOKEN ./install-runner.sh --role fix|deploy --spec SPEC --url https://github.com/OWNER/REPO
#            --runner-tarball PATH|URL [--runner-sha256 HEX] [--token-env NAME] [--realm NAME]
#            [--unit NAME] [--install-dir DIR] [--account NAME] [--name NAME] [--root DIR] [--dry-run]
#        sudo ./install-runner.sh --uninstall --role fix|deploy [--account NAME] [--root DIR] [--dry-run]
# --uninstall removes what an install made for the account: its systemd unit (stopped first), its ACL
# entries on the realm's install folder, the deploy role's sudoers drop-in, the account and its group,
# its home (the runner and _work) and /opt/crashbot/<account> (the venv). Nothing else, and only for an
# account the install created: it records that in /opt/crashbot/<account>/created-account (installs
# before that record set the account's comment to "crashbot <role> runner", which is taken as the same).
# The runner stays listed, offline, under Settings > Actions > Runners: remove it there.
# The registration token (Settings > Actions > Runners > New self-hosted runner; valid for one hour) is
# read from the environment variable --token-env names (default CRASHBOT_RUNNER_TOKEN) and handed to the
# runner's config.sh in its environment (ACTIONS_RUNNER_INPUT_TOKEN), never on a command line. It is
# needed only the first time: a registered runner (its .runner file exists) is left as it is.
# One deploy account per realm (its label and sudoers line name one realm and one unit): for a second
# realm on the same host pass --account crashbot-deploy-<realm>.
# SPEC is what pip installs, as for install-uploader.sh: a wheel, a git URL or a checkout; never a bare name.
# --root DIR puts every file under DIR and skips apt-get and systemctl (for tests; the accounts are real).
# Idempotent: every step checks first. --dry-run prints every command and file it would run or write.
set -euo pipefail
me=install-runner
usage="usage: $0 --role fix|deploy --spec WHEEL|GIT-URL|DIR --url https://github.com/OWNER/REPO --runner-tarball PATH|URL [--runner-sha256 HEX] [--token-env NAME] [--realm NAME] [--unit NAME] [--install-dir DIR] [--account NAME] [--name NAME] [--root DIR] [--dry-run]; or: $0 --uninstall --role fix|deploy [--account NAME] [--root DIR] [--dry-run]"
die() { echo "$me: $*" >&2; exit 2; }

role="" spec="" url="" tarball="" sha256="" token_env=CRASHBOT_RUNNER_TOKEN realm=main unit=worldserver
install_dir="" account="" name="" root="" dry="" uninstall=""
parse_args() {
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --dry-run) dry=1; shift; continue ;;
            --uninstall) uninstall=1; shift; continue ;;
            -h|--help) echo "$usage"; exit 0 ;;
            --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
        esac
        [ "$#" -ge 2 ] || die "$1 needs a value; $usage"
        case "$1" in
            --role) role=$2 ;;
            --spec) spec=$2 ;;
            --url) url=$2 ;;
            --runner-tarball) tarball=$2 ;;
            --runner-sha256) sha256=$2 ;;
            --token-env) token_env=$2 ;;
            --realm) realm=$2 ;;
            --unit) unit=$2 ;;
            --install-dir) install_dir=$2 ;;
            --account) account=$2 ;;
            --name) name=$2 ;;
            --root) root=$2 ;;
            *) die "unknown option '$1'; $usage" ;;
        esac
        shift 2
    done
}

# The same rule as install-uploader.sh and CrashbotSpec.ps1: a path or URL (has a slash), the current or
# parent directory, or a wheel/sdist file name. A bare name would install whatever PyPI has under it.
check_spec() {
    local spec_pattern='[/\\]|^[.]{1,2}$|[.](whl|zip|tar[.]gz)$'
    [ -n "$spec" ] || die "pass --spec with the crashbot wheel, git URL or checkout to install (e.g. --spec ./dist/crashbot-0.1.0-py3-none-any.whl)"
    [[ $spec =~ $spec_pattern ]] || die "--spec '$spec' is a bare package name and crashbot is not published on PyPI: pass the wheel path (dist/crashbot-*.whl), a git URL (git+https://github.com/OWNER/crashbot@COMMIT) or a checkout directory"
    case "$spec" in
        *://*|git+*) ;;
        *) [ -e "$spec" ] || die "--spec '$spec' does not exist: pass the path of the crashbot wheel or checkout"
           spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec") ;;
    esac
}

check_role_arg() {
    case "$role" in
        fix|deploy) ;;
        "") die "pass --role fix or --role deploy; $usage" ;;
        *) die "--role must be fix or deploy (got '$role')" ;;
    esac
}

check_account_and_root() {
    [ -n "$account" ] || account=crashbot-$role
    [[ $account =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "--account must be a lower-case user name of at most 32 characters (got '$account')"
    if [ -n "$root" ]; then
        [ -d "$root" ] || die "--root '$root' is not a directory"
        root=$(cd "$root" && pwd)
    fi
}

check_args() {
    check_role_arg
    check_spec
    [[ $url =~ ^https://[A-Za-z0-9.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?/?$ ]] \
        || die "--url must be the repository (or organisation) URL, https://github.com/OWNER/REPO (got '$url')"
    [ -n "$tarball" ] || die "pass --runner-tarball with the actions-runner-linux-x64-<version>.tar.gz from Settings > Actions > Runners (a path or its https URL)"
    case "$tarball" in
        https://*) [ -n "$sha256" ] || die "--runner-tarball is a URL: pass --runner-sha256 with the SHA-256 that GitHub's runner page shows for it" ;;
        *://*) die "--runner-tarball must be a file or an https URL (got '$tarball')" ;;
        *) [ -f "$tarball" ] || die "--runner-tarball '$tarball' does not exist"
           tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball") ;;
    esac
    [ -z "$sha256" ] || [[ $sha256 =~ ^[0-9a-fA-F]{64}$ ]] || die "--runner-sha256 must be 64 hex digits"
    # A local package is checked now, before anything changes (a downloaded one right after the download).
    if [ -n "$sha256" ] && [ -f "$tarball" ]; then
        echo "$sha256  $tarball" | sha256sum --check --quiet --status - \
            || die "$tarball does not have the SHA-256 --runner-sha256 gives: not using it"
    fi
    [[ $token_env =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--token-env must be the NAME of an environment variable (got '$token_env')"
    [[ $realm =~ ^[A-Za-z0-9_-]+$ ]] || die "--realm must be letters, digits, - or _ (got '$realm')"
    # The unit name goes into a sudoers line, verbatim: no characters sudoers gives a meaning to.
    [[ $unit =~ ^[A-Za-z0-9_@][A-Za-z0-9_.@-]*$ ]] || die "--unit must be a systemd unit name such as worldserver or worldserver@main (got '$unit')"
    check_account_and_root
    [ -n "$name" ] || name=$(hostname)-$account
    [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "--name must be letters, digits, '.', '-' or '_' (got '$name')"
    if [ -n "$install_dir" ]; then
        [ "$role" = deploy ] || die "--install-dir is for --role deploy (the fix account must have no right on the realm's files)"
        [ -d "$install_dir" ] || die "--install-dir '$install_dir' is not a directory"
    fi
}

# Every command goes through run (or as_account): --dry-run prints it, quoted, instead.
run() {
    if [ -n "$dry" ]; then
        printf 'would run:'; printf ' %q' "$@"; printf '\n'
    else
        "$@"
    fi
}
as_account() { run runuser -u "$account" -- "$@"; }

# write_file MODE OWNER PATH: the text on stdin becomes PATH (through a temporary file in the same folder,
# so a reader never sees half of it). --dry-run prints the text instead.
write_file() {
    local mode=$1 owner=$2 path=$3 text
    text=$(cat)
    if [ -n "$dry" ]; then
        printf 'would write %s (mode %s, owner %s):\n%s\n' "$path" "$mode" "$owner" "$text"
        return
    fi
    local tmp
    tmp=$(mktemp "$(dirname "$path")/.${me}.XXXXXX")
    printf '%s\n' "$text" >"$tmp"
    chown "$owner:$owner" "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

set_paths() {
    home=$root/home/$account
    runner_dir=$home/actions-runner
    work_dir=$home/_work
    venv=$root/opt/crashbot/$account/venv
    role_file=$root/opt/crashbot/$account/role
    created_file=$root/opt/crashbot/$account/created-account
    unit_file=$root/etc/systemd/system/$account-runner.service
    sudoers_file=$root/etc/sudoers.d/$account
    if [ "$role" = fix ]; then labels=crashbot-fix; else labels=realm-$realm; fi
    run_path=$venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
}

# The tools each role's jobs run: fix builds and tests an engine's patch in bubblewrap and symbolicates
# (llvm) and reads cores (gdb); deploy builds the merged commit and controls the unit through sudo.
install_tools() {
    local tool need=() pkgs=()
    local tools=(git cmake make g++ tar runuser)
    if [ "$role" = fix ]; then tools+=(gdb llvm-symbolizer bwrap); else tools+=(visudo setfacl); fi
    case "$tarball" in https://*) tools+=(curl sha256sum) ;; esac
    for tool in "${tools[@]}"; do command -v "$tool" >/dev/null 2>&1 || need+=("$tool"); done
    /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
    ((${#need[@]})) || { echo "$me: OK: the $role tools are installed (${tools[*]})" >&2; return 0; }
    for tool in "${need[@]}"; do
        case "$tool" in
            llvm-symbolizer) pkgs+=(llvm) ;;
            bwrap) pkgs+=(bubblewrap) ;;
            visudo) pkgs+=(sudo) ;;
            setfacl) pkgs+=(acl) ;;
            runuser) pkgs+=(util-linux) ;;
            sha256sum) pkgs+=(coreutils) ;;
            *) pkgs+=("$tool") ;;
        esac
    done
    [ -z "$root" ] || [ -n "$dry" ] || die "missing tools under --root (install them first): ${pkgs[*]}"
    run env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
}

# One system account per role, no password, no login shell, and never a member of an admin group.
# Fix and deploy never share an account: the role an account was installed for is recorded beside its venv.
check_role() {
    local other
    [ -f "$role_file" ] || return 0
    other=$(cat "$role_file")
    [ "$other" = "$role" ] || die "account $account is already the $other runner's account: give the $role runner its own (--account)"
}

# A link where the runner's own folders should be means something in the account rewrote its home.
refuse_links() {
    local path
    for path in "$home" "$runner_dir" "$work_dir" "$runner_dir/.path" "$runner_dir/config.sh"; do
        [ ! -L "$path" ] || die "$path is a symbolic link, not what this script made: something running as $account replaced it; look before you rerun"
    done
}

ensure_account() {
    local group
    run install -d -m 0755 -o root -g root "$root/opt/crashbot/$account"
    if id "$account" >/dev/null 2>&1; then
        echo "$me: OK: account $account exists" >&2
    else
        run useradd --system --user-group --no-create-home --home-dir "$home" --shell /usr/sbin/nologin \
            --comment "crashbot $role runner" "$account"
        # what --uninstall removes: only an account this script created
        printf 'created by install-runner.sh --role %s\n' "$role" | write_file 0644 root "$created_file"
    fi
    if id "$account" >/dev/null 2>&1; then
        for group in sudo wheel admin adm docker lxd; do
            if id -nG "$account" | tr ' ' '\n' | grep -qx "$group"; then run gpasswd -d "$account" "$group"; fi
        done
    fi
    [ -n "$dry" ] || [ -f "$role_file" ] || printf '%s\n' "$role" >"$role_file"
    # Mode 0700 on the home, the runner and _work: the other role's account reads none of it.
    [ -d "$root/home" ] || run install -d -m 0755 -o root -g root "$root/home"  # never re-mode the host's
    run install -d -m 0700 -o "$account" -g "$account" "$home"
    # Inside the home the account is the owner: root never creates, chowns or chmods a path there, where a
    # symbolic link the account planted would turn it onto another file. The account does it itself.
    as_account mkdir -p -m 0700 "$runner_dir" "$work_dir"
}

# Last, because unpacking the runner package sets its folder's mode from the archive.
lock_down() {
    run chown "$account:$account" "$home"
    run chmod 0700 "$home"
    as_account chmod 0700 "$runner_dir" "$work_dir"
}

# crashbot in a venv that root owns: the runner account (and a build running as it) cannot change it.
# The system's python3 (Debian 12, Ubuntu 24.04: 3.11 and 3.12; crashbot needs 3.11): an interpreter
# under root's home (pyenv) would be unreadable for the account.
install_crashbot() {
    [ -x "$venv/bin/python" ] || run /usr/bin/python3 -m venv "$venv"
    run "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "$spec"
}

# The runner package, unpacked by the account itself (a member trying to leave the folder stays inside
# what that account may write). A URL is downloaded over https and checked against --runner-sha256.
unpack_runner() {
    if [ -x "$runner_dir/config.sh" ]; then
        echo "$me: OK: the runner is unpacked in $runner_dir (it updates itself)" >&2
        return 0
    fi
    local file=$tarball
    case "$tarball" in
        https://*)
            file=$root/opt/crashbot/$account/actions-runner.tar.gz
            run curl --fail --silent --show-error --location --proto =https --output "$file" "$tarball" ;;
    esac
    if [ -n "$sha256" ] && [ "$file" != "$tarball" ]; then
        if [ -n "$dry" ]; then
            echo "would check: sha256sum of $file is $sha256"
        else
            echo "$sha256  $file" | sha256sum --check --quiet --status - || die "$file does not have the SHA-256 --runner-sha256 gives: not unpacking it"
        fi
    fi
    if [ -n "$dry" ]; then
        printf 'would run: runuser -u %q -- tar --no-overwrite-dir -xzf - -C %q < %q\n' "$account" "$runner_dir" "$file"
    else
        runuser -u "$account" -- tar --no-overwrite-dir -xzf - -C "$runner_dir" <"$file"
    fi
    # What GitHub's svc.sh does before it writes its unit: the service entry point sits in the root.
    as_account cp "$runner_dir/bin/runsvc.sh" "$runner_dir/runsvc.sh"
}

# Register once. The token travels in the environment (config.sh reads ACTIONS_RUNNER_INPUT_TOKEN and
# masks it in its log: actions/runner, src/Runner.Listener/CommandSettings.cs); a command line is
# readable by every local user in /proc/<pid>/cmdline.
register_runner() {
    if [ -f "$runner_dir/.runner" ]; then
        echo "$me: OK: a runner is already registered in $runner_dir (labels are set at registration: to change them, run ./config.sh remove as $account and rerun this)" >&2
        return 0
    fi
    if [ -n "$dry" ]; then
        echo "would pass the registration token from \$$token_env to config.sh as ACTIONS_RUNNER_INPUT_TOKEN (environment, not the command line)"
    else
        export ACTIONS_RUNNER_INPUT_TOKEN=$runner_token
    fi
    # env.sh (which config.sh runs) writes the service's PATH into .path: crashbot's venv comes first.
    as_account env -C "$runner_dir" "PATH=$run_path" ./config.sh --unattended --url "$url" \
        --name "$name" --labels "$labels" --work "$work_dir" --replace
    unset ACTIONS_RUNNER_INPUT_TOKEN
}

# Written by the account itself, for the reason given in ensure_account.
write_path_file() {
    if [ -n "$dry" ]; then
        printf 'would write %s (mode 0600, as %s):\n%s\n' "$runner_dir/.path" "$account" "$run_path"
        return
    fi
    # shellcheck disable=SC2016 # $1 is the inner shell's argument, expanded there
    printf '%s\n' "$run_path" | runuser -u "$account" -- sh -c 'umask 077 && cat >"$1.new" && mv -f "$1.new" "$1"' \
        sh "$runner_dir/.path"
}

# The service settings of GitHub's own svc.sh unit (actions.runner.service.template: KillMode=process,
# SIGTERM, 5 min to stop, restart always), plus what keeps one role's files its own.
unit_text() {
    cat <<UNIT
# GitHub Actions runner for crashbot, $role role ($labels), as the account $account.
# Written by runner-setup/install-runner.sh; rerun it rather than editing this file.
[Unit]
Description=GitHub Actions runner for crashbot ($role: $labels)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=$account
Group=$account
WorkingDirectory=$runner_dir
ExecStart=$runner_dir/runsvc.sh
KillMode=process
KillSignal=SIGTERM
TimeoutStopSec=5min
Restart=always
RestartSec=5s
# What a job writes is its account's alone (the deploy role's releases get ACLs from --install-dir).
UMask=0077
PrivateTmp=true
ProtectSystem=full
UNIT
    if [ "$role" = fix ]; then
        # No setuid program can raise a fix job's rights (bubblewrap needs none: user namespaces).
        printf '%s\n' "NoNewPrivileges=true"
    else
        printf '%s\n' "# No NoNewPrivileges: crashbot deploy runs sudo (setuid) for the lines in $sudoers_file."
    fi
    printf '\n[Install]\nWantedBy=multi-user.target\n'
}

# Deploy: exactly the systemctl lines crashbot runs (bot/deploy/systemd.py with deploy.systemd_sudo).
# No `status`: it pages through less, which runs a shell; crashbot asks is-active/show, which need no root.
sudoers_text() {
    local s
    # the systemctl sudo finds first through its secure_path (/bin/systemctl on a Debian without usrmerge)
    for s in /usr/sbin/systemctl /usr/bin/systemctl /sbin/systemctl /bin/systemctl; do [ ! -x "$s" ] || break; done
    printf '# crashbot deploy runner: start, stop, restart and kill the worldserver unit %s, nothing else.\n' "$unit"
    printf '# Written by runner-setup/install-runner.sh (checked with visudo -cf). crashbot uses it when\n'
    printf '# crashbot.toml sets [deploy] backend = "systemd", service_name = "%s", systemd_sudo = true.\n' "$unit"
    printf '%s ALL=(root) NOPASSWD: %s start %s, %s stop %s, %s restart %s, %s kill --signal\\=SIGKILL %s\n' \
        "$account" "$s" "$unit" "$s" "$unit" "$s" "$unit" "$s" "$unit"
}

install_sudoers() {
    [ -d "$root/etc/sudoers.d" ] || run install -d -m 0755 -o root -g root "$root/etc/sudoers.d"
    if [ -n "$dry" ]; then
        printf 'would write %s (mode 0440, owner root) after visudo -cf accepts it:\n%s\n' "$sudoers_file" "$(sudoers_text)"
        return
    fi
    local tmp
    tmp=$(mktemp "$root/etc/sudoers.d/.${me}.XXXXXX")  # sudo ignores names with a dot
    sudoers_text >"$tmp"
    chmod 0440 "$tmp"
    visudo -cqf "$tmp" >/dev/null || { rm -f "$tmp"; die "visudo refused the sudoers lines for $account (not installed)"; }
    mv -f "$tmp" "$sudoers_file"
}

# Fix: no sudo at all. A drop-in from an earlier deploy install under this name goes; any other rule stops us.
check_no_sudo() {
    [ ! -e "$sudoers_file" ] || run rm -f "$sudoers_file"
    command -v sudo >/dev/null 2>&1 && id "$account" >/dev/null 2>&1 || return 0
    if sudo -n -l -U "$account" 2>/dev/null | grep -q 'may run the following'; then
        die "account $account may run commands with sudo (sudo -l -U $account): the fix account must have no sudo right; remove the rule and rerun"
    fi
}

# Deploy: read-write on the realm's install folder, and default ACLs so the releases it writes stay
# readable by the folder's owner (the account worldserver runs as) despite UMask=0077.
grant_install_dir() {
    if [ -z "$install_dir" ]; then
        echo "$me: WARNING: no --install-dir: $account cannot write the realm's releases until you pass deploy.install_dir here" >&2
        return 0
    fi
    local owner
    install_dir=$(cd "$install_dir" && pwd -P)
    owner=$(stat -c %U "$install_dir")
    # -P: never through a symbolic link (the deploy account can write here); default entries land on
    # folders only, and new folders inherit them.
    run setfacl -R -P -m "u:$account:rwX,d:u:$account:rwX,d:u:$owner:rwX" "$install_dir"
    printf '%s' "$install_dir" | write_file 0644 root "$root/opt/crashbot/$account/install-dir"
    if [ -z "$dry" ] && ! runuser -u "$account" -- test -w "$install_dir" -a -x "$install_dir"; then
        echo "$me: WARNING: $account still cannot write $install_dir: let it pass through the folders above it (setfacl -m u:$account:x ...)" >&2
    fi
}

# The realm's install folder (worldserver.conf holds the database password) is closed to every fix
# account by a named ACL entry with no rights, which wins over the folder's "other" bits; whichever role
# is installed first, the second install adds it.
deny_fix_accounts() {
    local record fix_account dir
    for record in "$root"/opt/crashbot/*/role; do
        [ -f "$record" ] || continue
        fix_account=$(basename "$(dirname "$record")")
        for dir in "$root"/opt/crashbot/*/install-dir; do
            [ -f "$dir" ] || continue
            if [ "$(cat "$record")" = fix ] && [ -d "$(cat "$dir")" ]; then
                run setfacl -P -m "u:$fix_account:---" "$(cat "$dir")"
            fi
        done
    done
}

enable_service() {
    local svc
    svc=$(basename "$unit_file")
    [ -d "$(dirname "$unit_file")" ] || run install -d -m 0755 -o root -g root "$(dirname "$unit_file")"
    unit_text | write_file 0644 root "$unit_file"
    if [ -n "$root" ]; then
        echo "$me: --root: not starting $svc (systemctl enable --now $svc on the real host)" >&2
        return 0
    fi
    run systemctl daemon-reload
    run systemctl enable --now "$svc"
}

# --- --uninstall ----------------------------------------------------------------------------------------

# Whether this script created the account: its record, or (installs before the record) the comment only
# useradd above gives an account.
created_here() {
    [ -f "$created_file" ] && return 0
    [ "$(getent passwd "$account" | cut -d: -f5)" = "crashbot $role runner" ]
}

# Refuse, in one line and before anything changes, what --uninstall must not remove.
check_uninstall() {
    local other passwd_home
    if [ -f "$role_file" ]; then
        other=$(cat "$role_file")
        [ "$other" = "$role" ] || die "account $account is the $other runner's account, not the $role runner's: nothing removed (pass --role $other)"
    fi
    if [ -f "$sudoers_file" ] && ! grep -q '^# Written by runner-setup/install-runner.sh' "$sudoers_file"; then
        die "$sudoers_file was not written by install-runner.sh: nothing removed (move it away and rerun)"
    fi
    id "$account" >/dev/null 2>&1 || return 0
    created_here || die "account $account was not created by install-runner.sh (no $created_file): not removing it or anything installed for it"
    passwd_home=$(getent passwd "$account" | cut -d: -f6)
    [ "$passwd_home" = "$home" ] || die "account $account has the home $passwd_home, not $home (another --root?): nothing removed"
    [ ! -L "$home" ] || die "$home is a symbolic link, not what this script made: nothing removed; look before you rerun"
}

# The runner stops first: no job is left running with the rights that go next.
remove_service() {
    local svc
    svc=$(basename "$unit_file")
    if [ -z "$root" ] && [ -f "$unit_file" ]; then
        run systemctl disable --now "$svc"
    fi
}

# The ACL entries the install added on the realm's install folders: the deploy account's own (recursive,
# as granted; -P never follows a link the account could have planted there) and a fix account's "---".
# The folder owner's default entry stays: it is the owner's own right, and its files may rely on it.
remove_acls() {
    local record dir
    command -v setfacl >/dev/null 2>&1 || return 0
    for record in "$root"/opt/crashbot/*/install-dir; do
        [ -f "$record" ] || continue
        dir=$(cat "$record")
        [ -d "$dir" ] || continue
        if [ "$record" = "$root/opt/crashbot/$account/install-dir" ]; then
            run setfacl -R -P -x "u:$account,d:u:$account" "$dir"
        else
            run setfacl -P -x "u:$account" "$dir"
        fi
    done
}

# The deploy role's drop-in (check_uninstall made sure this script wrote it).
remove_sudoers() {
    [ ! -f "$sudoers_file" ] || run rm -f "$sudoers_file"
}

remove_account() {
    if id "$account" >/dev/null 2>&1; then
        # userdel refuses while the account runs a process: a job the unit's stop left behind
        run userdel "$account" || die "userdel $account failed (a process still runs as it? ps -u $account): stop it and rerun --uninstall"
    fi
    # --user-group made a group of the same name; userdel removes it unless another account uses it
    if getent group "$account" >/dev/null 2>&1 && [ -z "$(getent group "$account" | cut -d: -f4)" ] \
        && ! getent passwd | cut -d: -f4 | grep -qx "$(getent group "$account" | cut -d: -f3)"; then
        run groupdel "$account"
    fi
}

remove_files() {
    [ ! -e "$home" ] || run rm -rf --one-file-system -- "$home"
    if [ -f "$unit_file" ]; then
        run rm -f "$unit_file"
        [ -n "$root" ] || run systemctl daemon-reload
    fi
    # last: the record that the account was ours goes with its folder, so a rerun after a failure finds it
    [ ! -e "$root/opt/crashbot/$account" ] || run rm -rf --one-file-system -- "$root/opt/crashbot/$account"
    [ ! -d "$root/opt/crashbot" ] || run rmdir --ignore-fail-on-non-empty "$root/opt/crashbot"
}

uninstall() {
    check_role_arg
    check_account_and_root
    [ -n "$dry" ] || [ "$(id -u)" -eq 0 ] || { echo "$me: run as root (sudo)" >&2; exit 1; }
    set_paths
    if ! id "$account" >/dev/null 2>&1 && [ ! -f "$created_file" ]; then
        echo "$me: nothing to remove: no account $account and no $created_file" >&2
        return 0
    fi
    check_uninstall
    remove_service
    remove_acls
    remove_sudoers
    remove_account
    remove_files
    if [ -n "$dry" ]; then
        echo "$me: --dry-run: nothing was changed" >&2
        return 0
    fi
    echo "$me: removed the $role runner $account. It stays listed (offline) under Settings > Actions > Runners: remove it there." >&2
}

main() {
    parse_args "$@"
    if [ -n "$uninstall" ]; then uninstall; return; fi
    check_args
    [ -n "$dry" ] || [ "$(id -u)" -eq 0 ] || { echo "$me: run as root (sudo)" >&2; exit 1; }
    set_paths
    check_role
    refuse_links
    # The token stays in this shell only: apt-get, pip and the rest never see it in their environment.
    runner_token=${!token_env:-}
    export -n "${token_env?}"
    # Without the token a first install would stop half-way: say so before anything changes.
    if [ -z "$dry" ] && [ ! -f "$runner_dir/.runner" ] && [ -z "$runner_token" ]; then
        die "set $token_env to the registration token (Settings > Actions > Runners > New self-hosted runner; valid for one hour) and rerun"
    fi
    install_tools
    ensure_account
    install_crashbot
    unpack_runner
    register_runner
    write_path_file
    if [ "$role" = deploy ]; then install_sudoers; grant_install_dir; else check_no_sudo; fi
    deny_fix_accounts
    lock_down
    enable_service
    if [ "$role" = deploy ]; then
        echo "$me: done. In crashbot.toml: [deploy] backend = \"systemd\", service_name = \"$unit\", systemd_sudo = true. Check with: sudo -u $account $venv/bin/crashbot doctor" >&2
    else
        echo "$me: done. The fix runner ($labels) runs as $account, without sudo. Check with: sudo -u $account $venv/bin/crashbot doctor" >&2
    fi
}

main "$@"
