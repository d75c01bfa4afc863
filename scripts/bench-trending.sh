#!/usr/bin/env bash
# Trending benchmark: ssp-tui's aggregation vs DuckDB over the same bronze Parquet files, and
# ssp-tui's end-to-end latency (bus -> store, p50 / p99) with bus and lake input.
#
#   scripts/bench-trending.sh                  # embedded store
#   SSP__PIPELINE__STORE=postgres SSP__POSTGRESQL__URL="$(scripts/start-postgres.sh)" \
#       scripts/bench-trending.sh              # latency against PostgreSQL
#
# Environment: INPUT (JSONL tweets, default ../shared/data/tweets-v1-sample.jsonl), REPEAT
# (default 1000: >= 1M tweets from the 1000-tweet sample), SSP_BENCH_LAKE (the bronze lake,
# built once and reused; default /tmp/ssp-bench-trending-lake), SSP_BENCH_VENV (a virtualenv
# for DuckDB from PyPI; default /tmp/ssp-bench-venv). Extra arguments go to
# `ssp-tui bench trending` (e.g. --no-latency, --probes 500).
set -euo pipefail
cd "$(dirname "$0")/.."

INPUT="${INPUT:-../shared/data/tweets-v1-sample.jsonl}"
REPEAT="${REPEAT:-1000}"
LAKE="${SSP_BENCH_LAKE:-/tmp/ssp-bench-trending-lake}"
VENV="${SSP_BENCH_VENV:-/tmp/ssp-bench-venv}"

echo "== building ssp-tui (release)"
cargo build --release --quiet

echo "== ssp-tui bench trending"
target/release/ssp-tui bench trending --input "$INPUT" --repeat "$REPEAT" --lake "$LAKE" "$@"

echo "== DuckDB over the same files"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install --quiet duckdb
"$VENV/bin/python" scripts/bench_trending_duckdb.py "$LAKE/bronze"
