"""Driver of scripts/bench-sql.sh: each query in ssp-tui (`ssp-tui sql --timing`, the engine's
own time: opening the tables, planning, running) and in DuckDB over the same Parquet files
(read_parquet of the table's folder, hive partitions), best of 3, with the ratios; the answers
are compared too. Both engines are timed alike three ways: in a new process per run, as a new
engine / connection in a process that has run the query before, and warm (tables open, the
query run before). DuckDB's glob does not read the Delta log (it would also count files a
compaction replaced), so it is also timed over the table's live files as the Python
`deltalake` package lists them from the log, read in the timed span.
Usage: bench_sql.py <ssp-tui binary> <lake folder>."""

import csv
import io
import json
import os
import subprocess
import sys
import time

import duckdb
from deltalake import DeltaTable

BIN, LAKE = sys.argv[1], sys.argv[2]
BRONZE = f"read_parquet('{os.path.join(LAKE, 'bronze', 'date=*', '*.parquet')}', hive_partitioning = true)"
SILVER = f"read_parquet('{os.path.join(LAKE, 'silver', 'ner', 'date=*', '*.parquet')}', hive_partitioning = true)"

# (name, ssp-tui SQL, DuckDB SQL): the same question in each dialect.
QUERIES = [
    (
        "trending (seed rule)",
        open(os.path.join(os.path.dirname(__file__), "..", "assets", "sql", "trending_hashtags.sql")).read(),
        f"""SELECT word AS hashtag, count(*) AS count
            FROM (SELECT unnest(string_split(translate(text, chr(9) || chr(10) || chr(13), '   '), ' ')) AS word FROM {BRONZE})
            WHERE word LIKE '%#%' GROUP BY word ORDER BY count DESC, hashtag LIMIT 20""",
    ),
    (
        "trending (regex split)",
        """SELECT word AS hashtag, count(*) AS count
           FROM (SELECT unnest(string_to_array(regexp_replace(text, '\\s+', ' ', 'g'), ' ')) AS word FROM bronze)
           WHERE word LIKE '%#%' GROUP BY word ORDER BY count DESC, hashtag LIMIT 20""",
        f"""SELECT word AS hashtag, count(*) AS count
            FROM (SELECT unnest(string_split(regexp_replace(text, '\\s+', ' ', 'g'), ' ')) AS word FROM {BRONZE})
            WHERE word LIKE '%#%' GROUP BY word ORDER BY count DESC, hashtag LIMIT 20""",
    ),
    (
        "count by day",
        "SELECT date, count(*) AS tweets FROM bronze GROUP BY date ORDER BY date",
        f"SELECT date, count(*) AS tweets FROM {BRONZE} GROUP BY date ORDER BY date",
    ),
    (
        "bronze join silver",
        """SELECT b.lang, count(*) AS tweets, sum(array_length(s.entities)) AS entities
           FROM bronze b JOIN silver_ner s ON b.id_str = s.id_str
           GROUP BY b.lang ORDER BY tweets DESC, b.lang LIMIT 10""",
        f"""SELECT b.lang, count(*) AS tweets, sum(array_length(s.entities)) AS entities
            FROM {BRONZE} b JOIN {SILVER} s ON b.id_str = s.id_str
            GROUP BY b.lang ORDER BY tweets DESC, b.lang LIMIT 10""",
    ),
]


def ssp(sql, repeat=1, fresh=False):
    """(seconds of each run, rows): a new process running `sql` `repeat` times, in one engine
    (tables stay open) or, with `fresh`, in a new engine per run."""
    env = dict(os.environ, SSP__LAKE__ROOT=LAKE, SSP__LOG__DIR="/tmp/ssp-bench-sql-logs")
    args = [BIN, "sql", sql, "--format", "csv", "--timing", "--repeat", str(repeat)]
    p = subprocess.run(args + (["--fresh"] if fresh else []),
                       capture_output=True, text=True, env=env, check=True)
    secs = [float(l.split(" in ")[1].split(" ")[0]) for l in p.stderr.strip().splitlines()]
    return secs, [tuple(r) for r in csv.reader(io.StringIO(p.stdout))][1:]


def best(runs):
    """The fastest of several (seconds, rows)."""
    return min(runs, key=lambda r: r[0])


def connect():
    """A new DuckDB database, without the progress bar it draws on stdout for long queries."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def duck(con, sql):
    t = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - t, [tuple("" if v is None else str(v) for v in r) for r in rows]


def duck_cold(sql):
    """A new DuckDB database per run (nothing cached: files globbed and footers read anew)."""
    return duck(connect(), sql)


DUCK_PROCESS = """
import duckdb, json, sys, time
t = time.perf_counter()
con = duckdb.connect()
connecting = time.perf_counter() - t
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
rows = con.execute(sys.argv[1]).fetchall()
secs = connecting + time.perf_counter() - t
print(json.dumps([secs, [["" if v is None else str(v) for v in r] for r in rows]]))
"""


def duck_process(sql):
    """DuckDB in a new Python process (`import duckdb` untimed, as ssp-tui's process start is):
    connecting and running the query, timed inside."""
    p = subprocess.run([sys.executable, "-c", DUCK_PROCESS, sql], capture_output=True, text=True, check=True)
    secs, rows = json.loads(p.stdout)
    return secs, [tuple(r) for r in rows]


def duck_delta(sql):
    """As duck_cold, over each table's live files read from its Delta log in the timed span."""
    con = connect()
    t = time.perf_counter()
    for name, glob in ((SILVER, "silver/ner"), (BRONZE, "bronze")):
        if name in sql:
            files = DeltaTable(os.path.join(LAKE, glob)).file_uris()
            sql = sql.replace(name, f"read_parquet({files!r}, hive_partitioning = true)")
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - t, [tuple("" if v is None else str(v) for v in r) for r in rows]


con = connect()
n = con.execute(f"SELECT count(*) FROM {BRONZE}").fetchone()[0]
print(f"bronze: {n} rows; duckdb {duckdb.__version__}; {os.cpu_count()} cores; best of 3 of each, each engine's own time")
print("process: each engine in a new process per run (ssp-tui sql; python -c 'import duckdb; ...'),")
print("         connecting / opening the tables and running the query timed inside")
print("engine:  a new engine in a process that has run the query before (ssp-tui --fresh, 3 runs")
print("         before the 3 timed; a new")
print("         DuckDB connection), tables opened anew; 'duck+log': the same over the live files")
print("         of each table's Delta log (deltalake, read in the timed span)")
print("warm:    ssp-tui 3 runs in one engine (tables stay open, as in the SQL pane), DuckDB on one")
print("         connection that has run the query before")
print("milliseconds, then the ratios ours / DuckDB")
print(f"{'query':<22} {'process':>15} {'engine':>24} {'warm':>15}  {'process':>7} {'engine':>7} {'vs+log':>7} {'warm':>7}  same")
print(f"{'':<22} {'ours':>7} {'duck':>7} {'ours':>7} {'duck':>7} {'+log':>8} {'ours':>7} {'duck':>7}")
for name, ours, theirs in QUERIES:
    proc = best([(s[0], r) for s, r in (ssp(ours) for _ in range(3))])
    secs, rows = ssp(ours, repeat=6, fresh=True)
    engine = (min(secs[3:]), rows)  # the best of 3 after 3 that warm the process up
    secs, rows = ssp(ours, repeat=3)
    warm = (min(secs), rows)
    dproc = best(duck_process(theirs) for _ in range(3))
    dengine = best(duck_cold(theirs) for _ in range(3))
    dlog = best(duck_delta(theirs) for _ in range(3))
    dwarm = best(duck(con, theirs) for _ in range(3))
    same = all([tuple(x) for x in r[1]] == dwarm[1] for r in (proc, engine, warm, dproc, dengine, dlog))
    ms = [f"{r[0] * 1000:>7.1f}" for r in (proc, dproc, engine, dengine)] + [f"{dlog[0] * 1000:>8.1f}"]
    ms += [f"{r[0] * 1000:>7.1f}" for r in (warm, dwarm)]
    print(f"{name:<22} {' '.join(ms)}  {proc[0] / dproc[0]:>6.2f}x {engine[0] / dengine[0]:>6.2f}x "
          f"{engine[0] / dlog[0]:>6.2f}x {warm[0] / dwarm[0]:>6.2f}x  {same}")
