#!/usr/bin/env bash
# Ingest benchmark, whole process as a user runs it: `ssp-tui run source bronze` replaying
# N real tweets (the shared sample repeated with new ids) into the bronze Delta table,
# against serde_json's typed parse of the same file on one core (`ssp-tui bench ingest`,
# line (a')). Run for compact JSON and for JSON written with spaces after `:` and `,`,
# ROUNDS times each (default 3; the parse is measured again before every run), with the median.
#
#   scripts/bench-ingest.sh                 # N=100000
#   N=20000 BIN=target/debug/ssp-tui scripts/bench-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLE="${SAMPLE:-../shared/data/tweets-v1-sample.jsonl}"
N="${N:-100000}"
BIN="$(realpath "${BIN:-target/release/ssp-tui}")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
[ -x "$BIN" ] || { cargo build --release --quiet; BIN="$(realpath target/release/ssp-tui)"; }

python3 - "$SAMPLE" "$N" "$WORK" <<'PY'
import json, sys
sample, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tweets = [json.loads(l) for l in open(sample) if l.strip()]
with open(f"{work}/compact.jsonl", "w") as c, open(f"{work}/spaced.jsonl", "w") as s:
    for i in range(n):
        t = dict(tweets[i % len(tweets)])
        t["id"] = 1_500_000_000_000_000_000 + i
        t["id_str"] = str(t["id"])
        c.write(json.dumps(t, separators=(",", ":"), ensure_ascii=False) + "\n")
        s.write(json.dumps(t, ensure_ascii=False) + "\n")
PY

ROUNDS="${ROUNDS:-3}"
for kind in compact spaced; do
    file="$WORK/$kind.jsonl"
    mb=$(du -m "$file" | cut -f1)
    ratios=()
    for round in $(seq "$ROUNDS"); do
        parse=$("$BIN" bench ingest --input "$file" --repeat 1 --parse-only | awk '/\(a.\) parse-only/ {print $(NF-3)}')
        rm -rf "$WORK/lake-$kind"
        start=$(date +%s.%N)
        (cd "$WORK" && SSP__SOURCE__KIND=replay SSP__SOURCE__PATH="$file" SSP__SOURCE__RATE=0 \
            SSP__LAKE__ROOT="$WORK/lake-$kind" SSP__LOG__DIR="$WORK/logs" \
            "$BIN" run source bronze >/dev/null)
        end=$(date +%s.%N)
        rate=$(python3 -c "print(round($N / ($end - $start)))")
        ratio=$(python3 -c "print(f'{$rate / $parse:.2f}')")
        ratios+=("$ratio")
        echo "$kind ($mb MB) round $round: typed parse on one core $parse tweets/s; run source bronze $rate tweets/s; ratio ${ratio}x"
    done
    echo "$kind: median ratio $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p")x over $ROUNDS rounds"
done
