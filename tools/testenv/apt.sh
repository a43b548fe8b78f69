# shellcheck shell=bash
# Sourced by the testenv scripts: apt_install PACKAGE... installs Debian
# packages as root, serialised between the scripts (parallel first starts)
# and without letting the packages' scripts start the distribution's own
# service. Needs the caller's log and die functions.

apt_install() {
    local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    if [ "$(id -u)" -ne 0 ]; then
        die "$* is not installed; as root run: apt-get update && apt-get install -y --no-install-recommends $*"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "$* is not installed and apt-get is not available; install it by hand"
    exec 8>/var/lock/freezer-testenv-apt.lock
    flock -w 900 8 || die "timed out waiting for /var/lock/freezer-testenv-apt.lock"
    if [ ! -e "$policy" ]; then
        # Keep the package scripts from starting the distribution's instance.
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        created_policy=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    log "installing $* with apt-get (this takes a while)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get -o DPkg::Lock::Timeout=600 update >&2; then
        rc=1
    elif ! apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >&2; then
        rc=1
    fi
    if [ "$created_policy" -eq 1 ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    exec 8>&-
    [ "$rc" -eq 0 ] || die "apt-get install $* failed"
}
