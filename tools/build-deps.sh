#!/usr/bin/env bash
# `make venv`: the test extra builds uWSGI from source (PyPI ships no
# wheel), which needs a C compiler and the headers of the Python that runs
# it. Install them from Debian packages when they are missing (as root);
# otherwise say what is missing.
set -euo pipefail
python=${1:-python3}
have_headers() {
    "$python" - <<'PY'
import os, sys, sysconfig
include = sysconfig.get_config_var("INCLUDEPY") or ""
sys.exit(0 if os.path.exists(os.path.join(include, "Python.h")) else 1)
PY
}
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
have_headers || missing+=(python3-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (uWSGI, in the test extra, is built from source)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    exit 0
fi
echo "uWSGI (test extra) is built from source and needs: ${missing[*]}" \
     "(Debian: apt-get install ${missing[*]})" >&2
exit 1
