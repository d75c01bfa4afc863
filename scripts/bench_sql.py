"""Driver of scripts/bench-sql.sh: each query in ssp-tui (`ssp-tui sql --timing`, the engine's
own time: opening the tables, planning, running) and in DuckDB over the same Parquet files
(read_parquet, hive partitions), cold and warm for both engines, best of 3, with the ratios;
the answers are compared too. DuckDB cold is timed two ways: globbing the table's folder (what
the issue asks; it does not read the Delta log, so it would also count files a compaction
replaced), and over the table's live files as the Python `deltalake` package lists them from
the log (how DuckDB reads a Delta table without its delta extension; the log is read anew on
each run, as ssp-tui does).
Usage: bench_sql.py <ssp-tui binary> <lake folder>."""

import csv
import io
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


def ssp(sql, repeat=1):
    """(best seconds, rows): a fresh process; with `repeat`, the best of that many runs in it."""
    env = dict(os.environ, SSP__LAKE__ROOT=LAKE, SSP__LOG__DIR="/tmp/ssp-bench-sql-logs")
    p = subprocess.run([BIN, "sql", sql, "--format", "csv", "--timing", "--repeat", str(repeat)],
                       capture_output=True, text=True, env=env, check=True)
    secs = min(float(l.split(" in ")[1].split(" ")[0]) for l in p.stderr.strip().splitlines())
    return secs, [tuple(r) for r in csv.reader(io.StringIO(p.stdout))][1:]


def duck(con, sql):
    t = time.perf_counter()
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - t, [tuple("" if v is None else str(v) for v in r) for r in rows]


def duck_cold(sql):
    """A new DuckDB database per run (nothing cached: files globbed and footers read anew)."""
    return duck(duckdb.connect(), sql)


def duck_delta(sql):
    """As duck_cold, over each table's live files read from its Delta log in the timed span."""
    con = duckdb.connect()
    t = time.perf_counter()
    for name, glob in ((SILVER, "silver/ner"), (BRONZE, "bronze")):
        if name in sql:
            files = DeltaTable(os.path.join(LAKE, glob)).file_uris()
            sql = sql.replace(name, f"read_parquet({files!r}, hive_partitioning = true)")
    rows = con.execute(sql).fetchall()
    return time.perf_counter() - t, [tuple("" if v is None else str(v) for v in r) for r in rows]


con = duckdb.connect()
n = con.execute(f"SELECT count(*) FROM {BRONZE}").fetchone()[0]
print(f"bronze: {n} rows; duckdb {duckdb.__version__}; {os.cpu_count()} cores")
print("cold: ssp-tui in a new process per run (tables opened each time), DuckDB on a new")
print("      connection per run; each engine's own time, best of 3; 'duck+log': DuckDB over")
print("      the live files of each table's Delta log (deltalake, read in the timed span);")
print("warm: ssp-tui 3 runs in one engine (tables stay open, as in the SQL pane), DuckDB on one")
print("      connection that has run the query before; best of 3.")
print(f"{'query':<22} {'cold s':>8} {'duck cold':>9} {'duck+log':>8} {'warm s':>8} {'duck warm':>9} {'cold':>7} {'vs+log':>7} {'warm':>7}  same answer")
for name, ours, theirs in QUERIES:
    a = min((ssp(ours) for _ in range(3)), key=lambda r: r[0])
    w = ssp(ours, repeat=3)
    bc = min((duck_cold(theirs) for _ in range(3)), key=lambda r: r[0])
    bl = min((duck_delta(theirs) for _ in range(3)), key=lambda r: r[0])
    b = min((duck(con, theirs) for _ in range(3)), key=lambda r: r[0])
    same = all([tuple(x) for x in r[1]] == b[1] for r in (a, w, bc, bl))
    print(f"{name:<22} {a[0]:>8.3f} {bc[0]:>9.3f} {bl[0]:>8.3f} {w[0]:>8.3f} {b[0]:>9.3f} {a[0] / bc[0]:>6.2f}x {a[0] / bl[0]:>6.2f}x {w[0] / b[0]:>6.2f}x  {same}")
