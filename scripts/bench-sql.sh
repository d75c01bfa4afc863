#!/usr/bin/env bash
# SQL benchmark: `ssp-tui sql` (DataFusion over the Delta tables) against DuckDB over the same
# Parquet files, on a bronze table of ~1M tweets (the shared sample repeated with new ids) and
# its silver/ner table (the rules tagger): the seed's trending query, a count by day, and a
# join of bronze with silver. Prints the best of 3 runs of each and the ratio.
#
# Environment: INPUT (default ../shared/data/tweets-v1-sample.jsonl), REPEAT (default 1000),
# SSP_BENCH_LAKE (built once, reused; default /tmp/ssp-bench-sql-lake), SSP_BENCH_VENV (a
# virtualenv for DuckDB and the deltalake package; default /tmp/ssp-bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

INPUT="${INPUT:-../shared/data/tweets-v1-sample.jsonl}"
REPEAT="${REPEAT:-1000}"
LAKE="${SSP_BENCH_LAKE:-/tmp/ssp-bench-sql-lake}"
VENV="${SSP_BENCH_VENV:-/tmp/ssp-bench-venv}"
BIN="${SSP_BENCH_BIN:-target/release/ssp-tui}"

if [ -z "${SSP_BENCH_BIN:-}" ]; then
    echo "== building ssp-tui (release)"
    cargo build --release --quiet
fi
BIN="$(realpath "$BIN")"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import duckdb, deltalake' 2>/dev/null || "$VENV/bin/pip" install --quiet duckdb deltalake

if [ ! -d "$LAKE/lake/silver/ner/_delta_log" ]; then
    echo "== building the lake: $REPEAT x $INPUT -> bronze -> silver/ner"
    mkdir -p "$LAKE"
    [ -s "$LAKE/replay.jsonl" ] || "$VENV/bin/python" - "$INPUT" "$REPEAT" "$LAKE/replay.jsonl" <<'PY'
import json, sys
src, repeat, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = [l for l in open(src, encoding="utf-8") if l.strip()]
with open(out, "w", encoding="utf-8") as f:
    n = 0
    for r in range(repeat):
        for l in lines:
            t = json.loads(l)
            n += 1
            t["id"] = 10**18 + n
            t["id_str"] = str(10**18 + n)
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
print(f"{n} tweets")
PY
    (cd "$LAKE" && SSP__SOURCE__KIND=replay SSP__SOURCE__PATH="$LAKE/replay.jsonl" \
        SSP__SOURCE__RATE=0 SSP__LAKE__ROOT="$LAKE/lake" SSP__LOG__DIR="$LAKE/logs" \
        SSP__STATUS__PUBLISH=false SSP__NER__START=beginning \
        "$BIN" run source bronze ner --every 10)
fi

"$VENV/bin/python" scripts/bench_sql.py "$BIN" "$LAKE/lake"
