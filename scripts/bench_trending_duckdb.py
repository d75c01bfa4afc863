"""DuckDB side of scripts/bench-trending.sh: the trending counts over the bronze Parquet files,
the same work as ssp-tui's aggregation (per case-insensitive tag: count and most frequent
spelling), timed with all cores and with one. Usage: bench_trending_duckdb.py <bronze dir>."""

import os
import sys
import time

import duckdb

bronze = sys.argv[1]
files = os.path.join(bronze, "**", "*.parquet")
src = f"read_parquet('{files}')"

QUERIES = {
    # The bronze hashtags column (Twitter's rule), '#'-prefixed like ssp-tui stores them.
    "twitter": f"""
        WITH t AS (SELECT '#' || unnest(hashtags) AS sp FROM {src}),
             s AS (SELECT lower(sp) AS k, sp, count(*) AS c FROM t GROUP BY ALL)
        SELECT k, arg_max(sp, c) AS hashtag, sum(c) AS count FROM s GROUP BY k""",
    "twitter (count only)": f"""
        SELECT lower(t) AS k, count(*) FROM (SELECT unnest(hashtags) AS t FROM {src}) GROUP BY k""",
    # The playground's rule: whitespace-separated words containing '#', else 'no tags'.
    "seed": f"""
        WITH w AS (SELECT list_filter(string_split_regex(trim(text), '\\s+'), lambda x: contains(x, '#')) AS ws
                   FROM {src}),
             t AS (SELECT unnest(CASE WHEN len(ws) = 0 THEN ['no tags'] ELSE ws END) AS sp FROM w),
             s AS (SELECT lower(sp) AS k, sp, count(*) AS c FROM t GROUP BY ALL)
        SELECT k, arg_max(sp, c) AS hashtag, sum(c) AS count FROM s GROUP BY k""",
}

con = duckdb.connect()
rows = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
cores = os.cpu_count() or 1
print(f"duckdb {duckdb.__version__}: {rows} bronze rows in {bronze}")
for threads in sorted({cores, 1}, reverse=True):
    con.execute(f"SET threads = {threads}")
    for name, q in QUERIES.items():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            res = con.execute(q).fetchall()
            times.append(time.perf_counter() - t)
        times.sort()
        best, median = times[0], times[len(times) // 2]
        top = sorted((r for r in res if r[0] != "no tags"), key=lambda r: (-r[-1], r[1]))[:5]
        occurrences = sum(r[-1] for r in res if r[0] != "no tags")
        print(
            f"duckdb {name:<21} {threads} thread(s): {rows / best:>10.0f} tweets/s best ({best:.3f} s), "
            f"{rows / median:>10.0f} median; {occurrences} occurrences, {len(res)} keys"
        )
        if threads == cores and not name.endswith("(count only)"):
            print("  top 5: " + ", ".join(f"{r[1]} {r[-1]}" for r in top))
