#!/usr/bin/env bash
# The cluster on one machine, measured (issue 12): network namespaces from
# scripts/netns-cluster.sh (a Kafka broker host, two writer hosts, a control host), one run,
# three figures:
#   1. throughput into bronze with 1 writer and with 2 writers through the same broker, a
#      replay of N tweets at rate 0 from writer-1's host: live (the source's start -> bronze
#      holds all N) and drain (the topic filled first; the first -> the last bronze commit);
#   2. takeover time: two writers, a replay at TAKEOVER_RATE, kill -9 of the writer-1 bronze
#      process; the time until the other writer commits rows of the killed one's partitions
#      (read from the Delta log's txn actions), and until every tweet is in;
#   3. heartbeat-to-screen delay: `ssp-tui attach` in tmux on the control host, a bronze
#      process paused (SIGSTOP) until its row shows `lost`, then resumed (SIGCONT): the time
#      until its row shows `running` again (its next heartbeat, sent at once on resume, on
#      screen), SAMPLES times.
# Needs root, iproute2, tmux, Java (the broker) and python3. All hosts share this machine's
# cores (nproc is printed): two writers on two cores compete with the broker and the source.
#
#   scripts/bench-cluster.sh
#   N=20000 BIN=target/debug/ssp-tui scripts/bench-cluster.sh
#
# Environment: N (50000), BIN (/work/target-release/release/ssp-tui if present, else
# target/debug/ssp-tui), ROLL_SECONDS (1), TAKEOVER_RATE (2000 tweets/s), SAMPLES (5),
# SAMPLE (a JSONL of real tweets to repeat with new ids; synthetic tweets without it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
N="${N:-50000}"
ROLL_SECONDS="${ROLL_SECONDS:-1}"
TAKEOVER_RATE="${TAKEOVER_RATE:-2000}"
SAMPLES="${SAMPLES:-5}"
SAMPLE="${SAMPLE:-../shared/data/tweets-v1-sample.jsonl}"
if [ -z "${BIN:-}" ]; then
    BIN=target/debug/ssp-tui
    [ -x /work/target-release/release/ssp-tui ] && BIN=/work/target-release/release/ssp-tui
fi
BIN="$(realpath "$BIN")"
[ -x "$BIN" ] || { echo "no binary at $BIN: cargo build first" >&2; exit 1; }
# The heartbeat figure needs `attach` and status publishing: an older binary lacks them.
ATTACH_BIN="$BIN"
if ! "$BIN" attach --help >/dev/null 2>&1; then
    ATTACH_BIN="$(realpath target/debug/ssp-tui)"
    echo "note: $BIN has no 'attach' (an older build): the heartbeat figure uses $ATTACH_BIN" >&2
fi
for tool in ip tmux python3 java; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }

WORK="$(mktemp -d)"
export SSP_NETNS_STATE="$WORK/cluster"
CLUSTER="$ROOT/scripts/netns-cluster.sh"
TMUX=(tmux -L "ssp-bench-cluster-$$" -f /dev/null)
cleanup() {
    local socket
    socket="$("${TMUX[@]}" display-message -p '#{socket_path}' 2>/dev/null || true)"
    "${TMUX[@]}" kill-server >/dev/null 2>&1 || true
    [ -n "$socket" ] && rm -f "$socket"
    "$CLUSTER" down >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }

say "== cluster up ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
BOOTSTRAP="$("$CLUSTER" up)"

# N tweets: the sample repeated with new ids, or synthetic ones.
python3 - "$SAMPLE" "$N" "$WORK/tweets.jsonl" <<'PY'
import json, os, random, sys
sample, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = [json.loads(l) for l in open(sample) if l.strip()] if os.path.exists(sample) else []
words = "model data stream kafka delta tweet agent gpu neural python rust lake".split()
rnd = random.Random(7)
with open(out, "w") as f:
    for i in range(n):
        if base:
            t = dict(base[i % len(base)])
        else:
            text = " ".join(rnd.choice(words) for _ in range(12)) + f" #{rnd.choice(words)}"
            t = {"created_at": "Sun Apr 05 10:46:44 +0000 2020", "text": text,
                 "user": {"screen_name": f"user{rnd.randrange(5000)}"}}
        t["id"] = 1_600_000_000_000_000_000 + i
        t["id_str"] = str(t["id"])
        f.write(json.dumps(t, separators=(",", ":"), ensure_ascii=False) + "\n")
PY
say "tweets: $N in $WORK/tweets.jsonl ($(du -m "$WORK/tweets.jsonl" | cut -f1) MB); binary $BIN"

# The bronze table's log: rows, the first / last commit time with rows (ms) and the first's
# rows, and for
# `partitions WRITER_PID SINCE_MS` the first commit after SINCE_MS by another writer that
# advances one of WRITER_PID's partitions.
deltalog() {
    python3 - "$@" <<'PY'
import glob, json, os, sys
lake, what = sys.argv[1], sys.argv[2]
commits = []
for p in glob.glob(os.path.join(lake, "bronze/_delta_log/*.json")):
    try:
        lines = [json.loads(l) for l in open(p) if l.strip()]
    except (OSError, ValueError):
        continue
    c = {"rows": 0, "ts": 0, "writer": "", "parts": set()}
    for a in lines:
        if "add" in a and a["add"].get("stats"):
            c["rows"] += json.loads(a["add"]["stats"]).get("numRecords", 0)
        if "commitInfo" in a:
            c["ts"] = a["commitInfo"].get("timestamp", 0)
            c["writer"] = str(a["commitInfo"].get("operationParameters", {}).get("queryId", ""))
        if "txn" in a and a["txn"]["appId"].startswith("ssp-bronze/"):
            c["parts"].add(a["txn"]["appId"].rsplit("/", 1)[1])
    commits.append(c)
if what == "rows":
    print(sum(c["rows"] for c in commits))
elif what == "span":
    ts = sorted((c["ts"], c["rows"]) for c in commits if c["rows"] > 0)
    print(f"{ts[0][0]} {ts[-1][0]} {ts[0][1]}" if ts else "0 0 0")
elif what == "takeover":
    pid, since = sys.argv[3], int(sys.argv[4])
    mine = lambda c: c["writer"].startswith(f"bronze-{pid}-")
    parts = set().union(*[c["parts"] for c in commits if mine(c)] or [set()])
    later = sorted(c["ts"] for c in commits
                   if c["ts"] > since and not mine(c) and c["rows"] > 0 and c["parts"] & parts)
    print(later[0] if later else 0, ",".join(sorted(parts)) or "-")
PY
}

# Settings of one pipeline (a topic and a lake of its own).
pipeline_env() { # NAME
    PIPE_ENV=(SSP__PIPELINE__BUS=kafka SSP__PIPELINE__PARTITIONS=3
        SSP__KAFKA__BOOTSTRAP_SERVERS="$BOOTSTRAP" SSP__KAFKA__TOPIC="$1"
        SSP__KAFKA__GROUP_PREFIX="$1" SSP__LAKE__ROOT="$WORK/$1/lake"
        SSP__LAKE__ROLL_SECONDS="$ROLL_SECONDS")
    mkdir -p "$WORK/$1"
}

# Starts `BINARY ARGS...` on HOST in the background; its pid in $PID.
start_on() { # HOST NAME BINARY ARGS...
    local host="$1" name="$2"
    shift 2
    (cd "$WORK" && exec env "${PIPE_ENV[@]}" SSP__LOG__DIR="$WORK/logs-$name" \
        "$CLUSTER" exec "$host" "$@" >"$WORK/$name.out" 2>&1 </dev/null) &
    PID=$!
}

# Waits until every named writer's log says it has partitions.
wait_assigned() { # NAME...
    local name
    for name in "$@"; do
        for _ in $(seq 1 300); do
            grep -qs "assigned partitions" "$WORK/logs-$name"/*.log && break
            sleep 0.1
        done
    done
    sleep 2 # the last rebalance settles
}

wait_rows() { # LAKE N TIMEOUT_S -> prints the time all rows were in
    local deadline rows
    deadline=$(calc "$(now) + $3")
    while :; do
        rows=$(deltalog "$1" rows)
        [ "$rows" -ge "$2" ] && { now; return 0; }
        if [ "$(calc "int($(now) > $deadline)")" = 1 ]; then
            say "only $rows of $2 rows after $3 s"
            return 1
        fi
        sleep 0.2
    done
}

stop_pids() { kill -TERM "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }

# 1. Throughput, 1 writer then 2: live (writers up, then the source at rate 0: source start ->
# all N in bronze) and drain (the topic filled first, then the writers: first -> last bronze
# commit, the first commit's rows not counted).
throughput() { # WRITERS MODE
    local writers="$1" mode="$2" name pids=() t0 t_all t_source first last first_rows rows source_pid
    name="tp${writers}${mode}_$$"
    pipeline_env "$name"
    local writer_env=("${PIPE_ENV[@]}")
    PIPE_ENV+=(SSP__SOURCE__KIND=replay SSP__SOURCE__PATH="$WORK/tweets.jsonl" SSP__SOURCE__RATE=0)
    if [ "$mode" = drain ]; then
        start_on writer-1 "$name-source" "$BIN" run source
        wait "$PID" || say "the source exited non-zero: $(tail -n 3 "$WORK/$name-source.out")"
    fi
    PIPE_ENV=("${writer_env[@]}")
    start_on writer-1 "$name-a" "$BIN" run bronze
    pids+=("$PID")
    if [ "$writers" = 2 ]; then
        start_on writer-2 "$name-b" "$BIN" run bronze
        pids+=("$PID")
    fi
    if [ "$mode" = live ]; then
        if [ "$writers" = 2 ]; then wait_assigned "$name-a" "$name-b"; else wait_assigned "$name-a"; fi
        PIPE_ENV+=(SSP__SOURCE__KIND=replay SSP__SOURCE__PATH="$WORK/tweets.jsonl" SSP__SOURCE__RATE=0)
        t0=$(now)
        start_on writer-1 "$name-source" "$BIN" run source
        source_pid=$PID
    else
        t0=$(now)
    fi
    t_all=$(wait_rows "$WORK/$name/lake" "$N" 600)
    if [ "$mode" = live ]; then
        wait "$source_pid" || say "the source exited non-zero: $(tail -n 3 "$WORK/$name-source.out")"
        t_source=$(now)
    fi
    read -r first last first_rows < <(deltalog "$WORK/$name/lake" span)
    stop_pids "${pids[@]}"
    rows=$(deltalog "$WORK/$name/lake" rows)
    if [ "$mode" = live ]; then
        echo "throughput, $writers writer(s), live: $(calc "round($N / ($t_all - $t0))") tweets/s into bronze (source start -> all $N in $(calc "round($t_all - $t0, 1)") s; the source alone took $(calc "round($t_source - $t0, 1)") s); rows $rows"
    else
        local rate="n/a (one commit: raise N)"
        [ "$last" -gt "$first" ] && rate="$(calc "round(($N - $first_rows) / (($last - $first) / 1000))")"
        echo "throughput, $writers writer(s), drain: $rate tweets/s into bronze ($N queued; first -> last commit $(calc "round(($last - $first) / 1000, 1)") s; $(calc "round($t_all - $t0, 1)") s with the writers' start); rows $rows"
    fi
}
for writers in 1 2; do
    throughput "$writers" live
    throughput "$writers" drain
done

# 2. Takeover: kill -9 of one of two writers under a running replay.
name="to_$$"
pipeline_env "$name"
start_on writer-1 "$name-a" "$BIN" run bronze
a_pid=$PID
start_on writer-2 "$name-b" "$BIN" run bronze
b_pid=$PID
wait_assigned "$name-a" "$name-b"
PIPE_ENV+=(SSP__SOURCE__KIND=replay SSP__SOURCE__PATH="$WORK/tweets.jsonl" SSP__SOURCE__RATE="$TAKEOVER_RATE")
start_on writer-1 "$name-source" "$BIN" run source
source_pid=$PID
wait_rows "$WORK/$name/lake" $((N / 5)) 300 >/dev/null
kill_ms=$(calc "int($(now) * 1000)")
kill -9 "$a_pid"
wait "$a_pid" 2>/dev/null || true
takeover=""
for _ in $(seq 1 600); do
    read -r at parts < <(deltalog "$WORK/$name/lake" takeover "$a_pid" "$kill_ms")
    [ "$at" != 0 ] && { takeover=$(calc "round(($at - $kill_ms) / 1000, 2)"); break; }
    sleep 0.1
done
t_all=$(wait_rows "$WORK/$name/lake" "$N" 300)
wait "$source_pid" || true
stop_pids "$b_pid"
rows=$(deltalog "$WORK/$name/lake" rows)
echo "takeover: kill -9 of the writer-1 bronze (partitions $parts) -> writer-2 commits their rows after ${takeover:-?} s; all $N in $(calc "round($t_all - $kill_ms / 1000, 1)") s after the kill (rows $rows; session.timeout.ms as configured, 10000 by default; replay at $TAKEOVER_RATE/s)"

# 3. Heartbeat-to-screen delay, on attach's screen.
name="hb_$$"
pipeline_env "$name"
PIPE_ENV+=(SSP__STATUS__LOST_SECONDS=2)
attach_cmd="cd '$WORK' && env"
for kv in "${PIPE_ENV[@]}"; do attach_cmd+=" '$kv'"; done
attach_cmd+=" SSP__LOG__DIR='$WORK/logs-attach' '$CLUSTER' exec control '$ATTACH_BIN' attach; sleep 600"
"${TMUX[@]}" new-session -d -s hb -x 170 -y 50 "$attach_cmd"
sleep 3 # attach up and reading
"${TMUX[@]}" send-keys -t hb z
start_on writer-2 "$name-probe" "$ATTACH_BIN" run bronze
probe=$PID
row() { "${TMUX[@]}" capture-pane -p -t hb | grep -o 'bronze@writer-2 *[a-z]*' | awk '{print $2}' | head -1; }
wait_row() { # STATE TIMEOUT_S
    local deadline
    deadline=$(calc "$(now) + $2")
    until [ "$(row)" = "$1" ]; do
        [ "$(calc "int($(now) > $deadline)")" = 1 ] && return 1
        sleep 0.01
    done
}
wait_row running 30 || { say "the probe never showed on attach's screen:"; "${TMUX[@]}" capture-pane -p -t hb | head -14 >&2; exit 1; }
delays=()
for _ in $(seq 1 "$SAMPLES"); do
    kill -STOP "$probe"
    wait_row lost 15 || { kill -CONT "$probe"; say "no lost row"; exit 1; }
    t0=$(now)
    kill -CONT "$probe"
    wait_row running 15 || { say "no running row after SIGCONT"; exit 1; }
    delays+=("$(calc "round(($(now) - $t0) * 1000)")")
    sleep 1.5
done
stop_pids "$probe"
sorted=$(printf '%s\n' "${delays[@]}" | sort -n | tr '\n' ' ')
echo "heartbeat-to-screen: ${delays[*]} ms (sorted: $sorted; median $(printf '%s\n' "${delays[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}') ms): heartbeat sent on resume -> row running on attach's screen (tmux capture every ~10 ms)"
