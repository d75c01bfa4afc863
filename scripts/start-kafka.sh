#!/usr/bin/env bash
# Starts a Kafka-protocol broker for the tests on a loopback port and prints its bootstrap
# address. The broker is tansu (Apache-Kafka compatible, in-memory storage), installed from
# crates.io on first use (~11 minutes to build). Reuses a broker already listening there.
set -euo pipefail
PORT="${SSP_KAFKA_PORT:-19092}"
LOG="${TMPDIR:-/tmp}/ssp-tansu-$PORT.log"
export PATH="$HOME/.cargo/bin:$PATH"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if ! command -v tansu >/dev/null 2>&1; then
    echo "installing tansu (Kafka-compatible broker) with cargo..." >&2
    cargo install tansu --version 0.6.0 --features dynostore --locked >&2 \
        || cargo install tansu --version 0.6.0 --features dynostore >&2
fi
if ! listening; then
    nohup tansu broker \
        --listener-url "tcp://127.0.0.1:$PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$PORT" \
        --storage-engine memory://tansu/ >"$LOG" 2>&1 &
    for _ in $(seq 1 100); do
        listening && break
        sleep 0.1
    done
    listening || { echo "tansu did not start; see $LOG" >&2; exit 1; }
fi
echo "127.0.0.1:$PORT"
