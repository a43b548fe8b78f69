#!/usr/bin/env bash
# Apache httpd with Debian's mod_wsgi, and a virtualenv of the Python that
# this mod_wsgi embeds holding freezer-api (a regular, non-editable install
# of this checkout), so that tests/functional/test_deploy.py serves the
# example of etc/apache2/ for real. Nothing is started here: each test
# runs its own httpd on a free loopback port.
#
#   tools/testenv/apache.sh ensure   install what is missing (apache2,
#                                    libapache2-mod-wsgi-py3, python3-venv),
#                                    make or refresh the venv, and print
#                                    KEY=VALUE lines:
#       APACHE_BIN      the httpd binary (/usr/sbin/apache2)
#       APACHE_MODULES  its modules directory
#       APACHE_VENV     the venv (python-home of WSGIDaemonProcess)
#       APACHE_USER     the user the WSGI daemon processes run as: www-data
#                       when httpd starts as root, else the caller
#
# The venv's dependencies are reinstalled when pyproject.toml changes;
# freezer-api itself when its files changed (a few seconds), so the test
# serves the code of this checkout. The venv lives in $FREEZER_TESTENV_DIR/apache
# (default <repo>/.data/testenv) when www-data can read it there, else in
# /var/tmp/freezer-api-testenv/apache. Messages go to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
TESTENV_DIR=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}
APACHE_BIN=/usr/sbin/apache2
MODULES=/usr/lib/apache2/modules
# Debian 12's mod_wsgi embeds its python3.11 (libpython3.11).
PYTHON=/usr/bin/python3

log() { printf 'apache.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=tools/testenv/apt.sh
. "$SCRIPT_DIR/apt.sh"

daemon_user() {
    if [ "$(id -u)" -eq 0 ]; then echo www-data; else id -un; fi
}

# Whether the daemon user can reach (traverse) directory $1.
reachable() {
    local user
    user=$(daemon_user)
    if [ "$user" = "$(id -un)" ]; then
        [ -x "$1" ]
    else
        runuser -u "$user" -- test -x "$1" 2>/dev/null
    fi
}

ensure_packages() {
    local missing=()
    [ -x "$APACHE_BIN" ] || missing+=(apache2)
    [ -e "$MODULES/mod_wsgi.so" ] || missing+=(libapache2-mod-wsgi-py3)
    "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
    if [ ! -x "$APACHE_BIN" ] || [ ! -e "$MODULES/mod_wsgi.so" ]; then
        die "apache2 or mod_wsgi still missing after apt-get"
    fi
}

pick_dir() {
    mkdir -p "$TESTENV_DIR"
    if reachable "$TESTENV_DIR"; then
        echo "$TESTENV_DIR/apache"
    else
        log "$(daemon_user) cannot read $TESTENV_DIR; using /var/tmp/freezer-api-testenv/apache"
        mkdir -p /var/tmp/freezer-api-testenv
        chmod 0755 /var/tmp/freezer-api-testenv
        echo /var/tmp/freezer-api-testenv/apache
    fi
}

ensure_venv() {
    local dir=$1 venv=$1/venv want
    mkdir -p "$dir"
    chmod 0755 "$dir"
    want="$("$PYTHON" -VV | head -n 1) $(sha256sum "$REPO/pyproject.toml" | cut -c1-16)"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$dir/venv.stamp" 2>/dev/null)" != "$want" ]; then
        log "making $venv with $PYTHON and freezer-api's dependencies (a minute)"
        rm -f "$dir/venv.stamp"
        "$PYTHON" -m venv --clear "$venv" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "$REPO" >&2 ||
            die "pip install of freezer-api into $venv failed"
        printf '%s\n' "$want" >"$dir/venv.stamp"
        printf '%s\n' "$(source_stamp)" >"$dir/code.stamp"
    elif [ "$(cat "$dir/code.stamp" 2>/dev/null)" != "$(source_stamp)" ]; then
        # Only when the code changed: another test worker's httpd may be
        # running from this venv.
        rm -f "$dir/code.stamp"
        "$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
            --force-reinstall "$REPO" >&2 ||
            die "pip install of freezer-api into $venv failed"
        printf '%s\n' "$(source_stamp)" >"$dir/code.stamp"
    fi
    echo "$venv"
}

# What the installed package is made of: its files' contents.
source_stamp() {
    (cd "$REPO" && find freezer_api -type f ! -name '*.pyc' -print0 |
        sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
}

cmd_ensure() {
    local dir venv
    ensure_packages
    dir=$(pick_dir)
    # One caller at a time (parallel test workers share the venv).
    exec 9>"$dir.lock"
    flock -w 900 9 || die "timed out waiting for $dir.lock"
    venv=$(ensure_venv "$dir")
    exec 9>&-
    printf 'APACHE_BIN=%s\nAPACHE_MODULES=%s\nAPACHE_VENV=%s\nAPACHE_USER=%s\n' \
        "$APACHE_BIN" "$MODULES" "$venv" "$(daemon_user)"
}

case "${1:-}" in
ensure) cmd_ensure ;;
*)
    printf 'usage: %s ensure\n' "$0" >&2
    exit 2
    ;;
esac
