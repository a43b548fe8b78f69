#!/usr/bin/env bash
# `make venv`, after installing: uWSGI (test extra) embeds libpython, which
# must be the library of the venv's own Python. A uWSGI wheel that another
# Python 3.11 built (Debian's /usr/bin/python3 has the same wheel tag) can
# come out of pip's cache linked to that Python's libpython3.11; uWSGI then
# runs this venv's standard library on a different interpreter, and C
# modules such as _ssl fail to import (undefined symbols). Rebuild it from
# source, without the cache, when so.
set -euo pipefail
python=${1:?usage: check-uwsgi.sh VENV_PYTHON}
bin=$(dirname "$python")
[ -x "$bin/uwsgi" ] || exit 0
libdir=$(readlink -f "$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')")
# The directory of the libpython uwsgi loads ("" for a static one).
linked_dir() {
    local lib
    lib=$(ldd "$bin/uwsgi" | awk '/libpython/ {print $3; exit}')
    [ -z "$lib" ] || dirname "$(readlink -f "$lib")"
}
linked=$(linked_dir)
[ -z "$linked" ] || [ "$linked" = "$libdir" ] && exit 0
version=$("$python" -c 'from importlib.metadata import version; print(version("uWSGI"))')
echo "uWSGI $version loads libpython from $linked, not $libdir: rebuilding it from source" >&2
"$python" -m pip install -q --no-cache-dir --force-reinstall --no-deps "uWSGI==$version"
linked=$(linked_dir)
if [ "$linked" != "$libdir" ]; then
    echo "uWSGI still loads libpython from $linked" >&2
    exit 1
fi
