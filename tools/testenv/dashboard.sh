#!/usr/bin/env bash
# OpenStack Horizon with freezer-web-ui, and headless Chromium to drive it,
# for the browser test (tests/functional/test_dashboard.py):
#
#   tools/testenv/dashboard.sh ensure   install what is missing or stale:
#                                       Debian's chromium and chromium-driver
#                                       (apt-get), a venv with the pins of
#                                       tools/dashboard/requirements.txt
#                                       (Horizon 27.0.0, freezer-web-ui
#                                       19.0.0), Horizon's local settings
#                                       (tools/dashboard/local_settings.py)
#                                       and its collected, compressed static
#                                       files; last stdout line = the venv
#   tools/testenv/dashboard.sh path     the venv, if ready (else exit 1)
#   tools/testenv/dashboard.sh clean    delete the venv
#
# The test starts and stops the dashboard itself (Django's runserver from
# this venv, DJANGO_SETTINGS_MODULE=openstack_dashboard.settings).
# Environment: FREEZER_TESTENV_DIR (default <repo>/.data/testenv; the venv
# is $FREEZER_TESTENV_DIR/dashboard/venv), DASHBOARD_PYTHON (a python >=
# 3.10; default python3.11, else python3).  Messages go to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
TOOLS="$REPO/tools/dashboard"
PINS="$TOOLS/requirements.txt"
SETTINGS="$TOOLS/local_settings.py"
TESTENV_DIR=${FREEZER_TESTENV_DIR:-$REPO/.data/testenv}
DIR="$TESTENV_DIR/dashboard"
VENV="$DIR/venv"
APT_PACKAGES=(chromium chromium-driver)

log() { printf 'dashboard.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=tools/testenv/python.sh
. "$SCRIPT_DIR/python.sh"
# shellcheck source=tools/testenv/apt.sh
. "$SCRIPT_DIR/apt.sh"

python_for_venv() {  # a python >= 3.10: $DASHBOARD_PYTHON, python3.11, python3
    pick_python 10 "${DASHBOARD_PYTHON:-}" python3.11 python3
}

# What the venv is made from: the pins and the interpreter.
stamp() {
    { cat "$PINS"; "$1" -c 'import sys; print(sys.version)'; } |
        sha256sum | cut -d' ' -f1
}

ensure_browser() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 &&
        return 0
    apt_install "${APT_PACKAGES[@]}"
    command -v chromedriver >/dev/null 2>&1 || die "chromedriver missing after apt-get"
}

django() {  # django-admin with the settings, in an environment of its own
    env -i PATH=/usr/bin:/bin HOME="$DIR" LANG=C.UTF-8 \
        DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
        DASHBOARD_STATE_DIR="$DIR" \
        "$VENV/bin/django-admin" "$@"
}

build() {  # build STAMP PYTHON: the venv
    local start=$SECONDS logfile="$DIR/install.log"
    log "creating $VENV (log: $logfile)"
    rm -rf "$VENV" "$DIR/static"
    if ! { "$2" -m venv "$VENV" &&
           "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
               --no-compile --only-binary :all: -r "$PINS"; } >"$logfile" 2>&1; then
        tail -n 30 "$logfile" >&2
        die "installing the dashboard failed (see $logfile)"
    fi
    printf '%s\n' "$1" >"$VENV/.stamp"
    log "dashboard venv ready in $((SECONDS - start)) s"
}

# Horizon's settings, the plugin and the static files they make, again
# whenever tools/dashboard/local_settings.py changed (a few seconds).
configure() {
    local want site logfile="$DIR/configure.log"
    want=$(cat "$VENV/.stamp" "$SETTINGS" | sha256sum | cut -d' ' -f1)
    [[ "$(cat "$DIR/static/.stamp" 2>/dev/null)" == "$want" ]] && return 0
    site=$("$VENV/bin/python" -c 'import os, openstack_dashboard as d
print(os.path.dirname(d.__file__))')
    # Horizon reads local/local_settings.py and the plugins enabled in
    # local/enabled/ (freezer-web-ui's install guide copies the same).
    cp "$SETTINGS" "$site/local/local_settings.py"
    cp "$VENV"/lib/python3*/site-packages/freezer_ui/enabled/_50*.py "$site/local/enabled/"
    rm -rf "$DIR/static"
    if ! { django collectstatic --noinput -v0 && django compress --force -v0; } \
            >"$logfile" 2>&1; then
        tail -n 30 "$logfile" >&2
        die "collectstatic/compress failed (see $logfile)"
    fi
    printf '%s\n' "$want" >"$DIR/static/.stamp"
}

is_ready() {
    [[ -x "$VENV/bin/django-admin" && -f "$VENV/.stamp" &&
       "$(cat "$VENV/.stamp")" == "$1" ]]
}

cmd_ensure() {
    local python want
    mkdir -p "$DIR"
    [[ -f "$DIR/.gitignore" ]] || printf '*\n' >"$DIR/.gitignore"
    ensure_browser
    python=$(python_for_venv)
    want=$(stamp "$python")
    exec 7>>"$DIR/.lock"
    flock -w 900 7 || die "could not lock $DIR/.lock"
    is_ready "$want" || build "$want" "$python"
    configure
    printf '%s\n' "$VENV"
}

case ${1:-} in
    ensure) cmd_ensure ;;
    path) is_ready "$(stamp "$(python_for_venv)")" && [[ -f "$DIR/static/.stamp" ]] ||
              die "not ready: run $0 ensure"
          printf '%s\n' "$VENV" ;;
    clean) rm -rf "$VENV" "$DIR/static" "$DIR/install.log" ;;
    *) die "usage: dashboard.sh ensure | path | clean" ;;
esac
