#!/usr/bin/env bash
# What the TUI itself costs. Runs the release binary in tmux with the synthetic source at
# RATE tweets/s until TOTAL tweets went through, sampling the process's CPU (from /proc),
# its redraw rate (from the log) and RSS; then the same pipeline headless (`run source
# bronze`) for the same time: the difference is the TUI's own share. Finally the idle cost
# (all stages stopped). Prints figures only; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/${BIN:-target/release/ssp-tui}"
RATE="${RATE:-5000}"
TOTAL="${TOTAL:-1000000}"
SECS=$((TOTAL / RATE))
TICK=$(getconf CLK_TCK)
dir=$(mktemp -d)
trap 'tmux kill-session -t sspbench 2>/dev/null || true; rm -rf "$dir"' EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mb() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
env_vars="SSP__SOURCE__RATE=$RATE SSP__LAKE__ROOT=$dir/lake SSP__LOG__DIR=$dir/logs"

measure() { # pid seconds -> percent of one core
    local c0 c1
    c0=$(cpu_ticks "$1"); sleep "$2"; c1=$(cpu_ticks "$1")
    awk -v a="$c0" -v b="$c1" -v t="$TICK" -v s="$2" 'BEGIN {printf "%.1f", (b - a) / t / s * 100}'
}

echo "TUI at $RATE tweets/s for ${SECS}s ($TOTAL tweets), 160x48 terminal"
tmux new-session -d -s sspbench -x 160 -y 48 "cd $dir && env $env_vars $BIN"
sleep 2
pid=$(pgrep -f "^$BIN\$" | head -1)
sleep 3
tui_cpu=$(measure "$pid" $((SECS - 5)))
tui_rss=$(rss_mb "$pid")
fps=$(grep -o 'fps="[0-9.]*"' "$dir/logs/ssp-tui.log" | tail -n 6 | tr -dc '0-9.\n' | awk '{s += $1; n++} END {printf "%.1f", s / n}')
out=$(tmux capture-pane -t sspbench -p | grep -m1 -o 'source *running.*' | awk '{print $5}')
echo "  CPU ${tui_cpu}% of one core (whole process: pipeline + TUI), redraws ${fps}/s, RSS ${tui_rss} MB, source out ${out}"
tmux send-keys -t sspbench X
sleep 5
idle_cpu=$(measure "$pid" 20)
echo "  idle (all stages stopped): CPU ${idle_cpu}% of one core"
tmux send-keys -t sspbench q
sleep 3

echo "headless, the same stages (source bronze ner trending classify), ${SECS}s"
rm -rf "$dir/lake"
(cd "$dir" && env $env_vars "$BIN" run source bronze ner trending classify --every 3600 >/dev/null) &
sleep 2
hpid=$(pgrep -f "^$BIN run source" | head -1)
sleep 3
head_cpu=$(measure "$hpid" $((SECS - 5)))
kill -TERM "$hpid"; wait || true
echo "  CPU ${head_cpu}% of one core"
awk -v a="$tui_cpu" -v b="$head_cpu" 'BEGIN {printf "TUI own share: %.1f%% of one core\n", a - b}'
