# shellcheck shell=bash
# Sourced by the testenv scripts: pick_python MINOR CANDIDATE... prints the
# path of the first candidate that is a Python >= 3.MINOR (empty candidates,
# e.g. an unset override variable, are skipped). Needs the caller's die.

pick_python() {
    local minor=$1 py
    shift
    for py in "$@"; do
        if [[ -n "$py" ]] && command -v "$py" >/dev/null 2>&1 &&
                "$py" -c "import sys; sys.exit(sys.version_info < (3, $minor))" \
                    2>/dev/null; then
            command -v "$py"
            return 0
        fi
    done
    die "no python >= 3.$minor found (tried: $*)"
}
