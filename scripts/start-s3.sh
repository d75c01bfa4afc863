#!/usr/bin/env bash
# An S3-compatible server for the tests: moto's server (PyPI moto[server], in-memory, any
# credentials) in a virtualenv, on loopback.
#
#   scripts/start-s3.sh [start] [PORT]   start (or reuse) it, create the bucket, print its
#                                        endpoint URL (only that on stdout)
#   scripts/start-s3.sh stop [PORT]      stop it (its objects are gone with it)
#   scripts/start-s3.sh python           print the virtualenv's python (boto3 is in it)
#
# Environment (all optional):
#   SSP_S3_PORT     port on 127.0.0.1 (default 19000; PORT wins)
#   SSP_S3_BUCKET   bucket created at start (default ssp-test)
#   SSP_S3_VENV     the virtualenv (default target/s3-venv)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${SSP_S3_VENV:-$ROOT/target/s3-venv}"
PY="$VENV/bin/python"
REQ='moto[server]>=5.1,<6'
CMD=start
case "${1:-}" in start | stop | python) CMD="$1"; shift ;; esac
PORT="${1:-${SSP_S3_PORT:-19000}}"
[[ "$PORT" =~ ^[0-9]+$ ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
BUCKET="${SSP_S3_BUCKET:-ssp-test}"
RUN_DIR="$ROOT/target/s3-service"
URL="http://127.0.0.1:$PORT"

say() { printf 'start-s3: %s\n' "$*" >&2; }

setup() { # the virtualenv, installed again only when $REQ changes
    [ -x "$PY" ] && [ "$(cat "$VENV/.ssp-requirements" 2>/dev/null)" = "$REQ" ] && return 0
    [ -x "$PY" ] || { say "creating the virtualenv $VENV"; python3 -m venv "$VENV"; }
    say "installing $REQ from PyPI"
    "$PY" -m pip install --quiet --disable-pip-version-check "$REQ" >&2
    echo "$REQ" >"$VENV/.ssp-requirements"
}

# 0 when an S3 server answers ListBuckets on the port.
answers() { curl -fsS -m 2 "$URL/" 2>/dev/null | grep -q ListAllMyBucketsResult; }

case "$CMD" in
python)
    setup
    echo "$PY"
    ;;
stop)
    pid="$(cat "$RUN_DIR/moto-$PORT.pid" 2>/dev/null)" || exit 0
    # Only if that pid is still our moto_server (a stale pid file is ignored).
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "moto_server -H 127.0.0.1 -p $PORT"; then
        kill "$pid" && say "stopped pid $pid"
    fi
    rm -f "$RUN_DIR/moto-$PORT.pid"
    ;;
start)
    if answers; then
        say "reusing the S3 server at $URL"
    else
        setup
        mkdir -p "$RUN_DIR"
        log="$RUN_DIR/moto-$PORT.log"
        # setsid: its own session, so the caller's Ctrl-C or exit does not reach it by accident.
        setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$log" 2>&1 </dev/null &
        echo $! >"$RUN_DIR/moto-$PORT.pid"
        for _ in $(seq 1 150); do
            answers && break
            kill -0 "$!" 2>/dev/null || break
            sleep 0.2
        done
        answers || { say "moto_server did not start; its log:"; tail -n 30 "$log" >&2; exit 1; }
        say "S3 server ready at $URL (pid $!, log $log)"
    fi
    # Path-style CreateBucket; moto accepts any credentials and none. 409 = already there.
    code="$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$URL/$BUCKET")"
    case "$code" in 200 | 409) ;; *) say "creating bucket $BUCKET: HTTP $code"; exit 1 ;; esac
    echo "$URL"
    ;;
esac
