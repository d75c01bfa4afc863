#!/usr/bin/env bash
# A Python virtualenv with the reference Delta Lake implementation (PyPI deltalake, delta-rs's
# Python binding), pyarrow and DuckDB: the tests read and write tables with it to check that
# ssp-tui's tables are readable by other Delta clients (and the benchmarks compare with DuckDB).
#
#   scripts/pydelta.sh python      create/update the virtualenv if needed, print its python
#   scripts/pydelta.sh versions    print the installed versions
#
# SSP_PYDELTA_VENV (default target/pydelta-venv) is the virtualenv.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SSP_PYDELTA_VENV:-$ROOT/target/pydelta-venv}"
PY="$VENV/bin/python"
REQS=('deltalake>=1,<2' 'pyarrow>=16' 'duckdb>=1')

setup() { # installs again only when REQS change
    [ -x "$PY" ] && [ "$(cat "$VENV/.ssp-requirements" 2>/dev/null)" = "${REQS[*]}" ] && return 0
    [ -x "$PY" ] || { echo "pydelta: creating the virtualenv $VENV" >&2; python3 -m venv "$VENV"; }
    echo "pydelta: installing ${REQS[*]} from PyPI" >&2
    "$PY" -m pip install --quiet --disable-pip-version-check "${REQS[@]}" >&2
    echo "${REQS[*]}" >"$VENV/.ssp-requirements"
}

case "${1:-}" in
python)
    setup
    echo "$PY"
    ;;
versions)
    setup
    "$PY" -c 'import deltalake, pyarrow, duckdb
print(f"deltalake {deltalake.__version__}, pyarrow {pyarrow.__version__}, duckdb {duckdb.__version__}")'
    ;;
*)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
