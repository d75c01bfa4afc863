#!/usr/bin/env bash
# A cluster on one machine: four network namespaces acting as hosts, joined by a bridge, with
# an Apache Kafka broker (scripts/start-kafka.sh) on the broker host. Needs root and iproute2.
#
#   scripts/netns-cluster.sh up               make the hosts, start the broker, print its
#                                             bootstrap address (only that on stdout)
#   scripts/netns-cluster.sh down             stop every process in the hosts, delete them and
#                                             the broker's data (safe to run at any time, also
#                                             after a failed or killed run)
#   scripts/netns-cluster.sh exec HOST CMD... run CMD on HOST (broker, writer-1, writer-2 or
#                                             control) with SSP_HOSTNAME=HOST; exec's, so the
#                                             caller's child pid is CMD's pid
#   scripts/netns-cluster.sh status           the hosts, their addresses and processes
#
# The hosts are namespaces ssp-broker (10.231.0.1), ssp-writer-1 (.2), ssp-writer-2 (.3) and
# ssp-control (.4), each with its loopback up and an eth0 on 10.231.0.0/24. The bridge is in a
# namespace of its own, ssp-lan (a switch: no address), so the machine's own network, routes
# and firewall are never touched and the addresses exist only inside the namespaces. The
# namespaces share the filesystem, so a lake folder is shared by every host.
#
# Environment (all optional):
#   SSP_NETNS_STATE   folder for the broker's data and logs (default ${TMPDIR:-/tmp}/ssp-netns-cluster)
#   SSP_NETNS_PORT    the broker's client port (default 9092)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${SSP_NETNS_STATE:-${TMPDIR:-/tmp}/ssp-netns-cluster}"
PORT="${SSP_NETNS_PORT:-9092}"
NET=10.231.0
LAN=ssp-lan
# Where the last `up` put its state, so `down` finds it whatever SSP_NETNS_STATE says then.
RECORD=/run/ssp-netns-cluster.state
HOSTS=(broker writer-1 writer-2 control)
declare -A ADDR=([broker]=1 [writer-1]=2 [writer-2]=3 [control]=4)

say() { printf 'netns-cluster: %s\n' "$*" >&2; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

need_root() {
    [ "$(id -u)" -eq 0 ] || { say "needs root (network namespaces)"; exit 1; }
    command -v ip >/dev/null || { say "needs iproute2 (apt-get install iproute2)"; exit 1; }
}

exists() { [ -e "/run/netns/$1" ]; }

# Every namespace this script makes, the switch last.
all_ns() {
    local h
    for h in "${HOSTS[@]}"; do echo "ssp-$h"; done
    echo "$LAN"
}

host_ns() { # HOST or ssp-HOST -> ssp-HOST
    local h="${1#ssp-}"
    [ -n "${ADDR[$h]:-}" ] || { say "unknown host '$1' (one of: ${HOSTS[*]})"; exit 2; }
    echo "ssp-$h"
}

# Pids of the processes living in the namespaces (only ours: nothing else runs in them).
# Pids of the processes living in the given namespaces (only ours: nothing else runs there).
ns_pids() { # NS...
    local ns
    for ns in "$@"; do
        if exists "$ns"; then ip netns pids "$ns" 2>/dev/null || true; fi
    done
}

# SIGTERM to every process in the namespaces, SIGKILL to what is left after 10 s.
stop_in() { # NS...
    local pids=() i
    mapfile -t pids < <(ns_pids "$@")
    [ "${#pids[@]}" -eq 0 ] && return 0
    say "stopping pid ${pids[*]} (${*#ssp-})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for i in $(seq 1 100); do
        mapfile -t pids < <(ns_pids "$@")
        [ "${#pids[@]}" -eq 0 ] && return 0
        [ "$i" -eq 100 ] && { say "killing pid ${pids[*]}"; kill -KILL "${pids[@]}" 2>/dev/null || true; }
        sleep 0.1
    done
}

down() {
    local ns old
    # The stages first, while the broker still serves their last commits; then the broker.
    stop_in ssp-writer-1 ssp-writer-2 ssp-control
    stop_in ssp-broker "$LAN"
    for ns in $(all_ns); do
        if exists "$ns"; then ip netns del "$ns" 2>/dev/null || say "could not delete $ns"; fi
    done
    # The broker's data, also where an earlier `up` with another SSP_NETNS_STATE put it.
    old="$(cat "$RECORD" 2>/dev/null || true)"
    for dir in "$STATE" "$old"; do
        if [ -n "$dir" ] && [ -f "$dir/.ssp-netns-cluster" ]; then rm -rf "$dir"; fi
    done
    rm -f "$RECORD"
    ! exists ssp-broker && ! exists "$LAN"
}

up() {
    local h ns
    down >/dev/null 2>&1 || true
    # The broker's jars, fetched here: the namespaces have no way out to Maven Central.
    "$ROOT/scripts/start-kafka.sh" libs
    mkdir -p "$STATE"
    touch "$STATE/.ssp-netns-cluster"
    echo "$STATE" >"$RECORD"
    ip netns add "$LAN"
    ip -n "$LAN" link set lo up
    ip -n "$LAN" link add br0 type bridge
    ip -n "$LAN" link set br0 up
    for h in "${HOSTS[@]}"; do
        ns="ssp-$h"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # One cable: eth0 on the host, port-HOST on the switch.
        ip -n "$LAN" link add "port-$h" type veth peer name eth0 netns "$ns"
        ip -n "$LAN" link set "port-$h" master br0 up
        ip -n "$ns" addr add "$NET.${ADDR[$h]}/24" dev eth0
        ip -n "$ns" link set eth0 up
    done
    say "hosts up: $(for h in "${HOSTS[@]}"; do printf '%s=%s.%s ' "$h" "$NET" "${ADDR[$h]}"; done)"
    # The broker listens and advertises on its host's address only.
    local bootstrap
    bootstrap="$(ip netns exec ssp-broker env TMPDIR="$STATE" SSP_KAFKA_HOST="$NET.1" \
        SSP_KAFKA_BROKERS=1 "$ROOT/scripts/start-kafka.sh" start "$PORT")"
    # Every other host reaches it through the bridge.
    for h in writer-1 writer-2 control; do
        local ok=""
        for _ in $(seq 1 50); do
            if ip netns exec "ssp-$h" bash -c "exec 3<>/dev/tcp/$NET.1/$PORT" 2>/dev/null; then
                ok=1
                break
            fi
            sleep 0.1
        done
        [ -n "$ok" ] || { say "$h cannot reach the broker at $NET.1:$PORT"; exit 1; }
    done
    say "broker ready at $bootstrap (reachable from every host)"
    echo "$bootstrap"
}

status() {
    local h ns
    for h in "${HOSTS[@]}"; do
        ns="ssp-$h"
        if exists "$ns"; then
            printf '%-9s %s.%-3s pids: %s\n' "$h" "$NET" "${ADDR[$h]}" \
                "$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
        else
            printf '%-9s down\n' "$h"
        fi
    done
}

case "${1:-}" in
up)
    need_root
    up
    ;;
down)
    need_root
    down
    ;;
exec)
    need_root
    [ $# -ge 3 ] || usage
    ns="$(host_ns "$2")"
    host="${ns#ssp-}"
    shift 2
    exists "$ns" || { say "$ns does not exist: run '$0 up' first"; exit 1; }
    exec ip netns exec "$ns" env SSP_HOSTNAME="$host" "$@"
    ;;
status)
    need_root
    status
    ;;
*) usage ;;
esac
