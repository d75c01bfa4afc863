#!/usr/bin/env bash
# An Apache Kafka 4 broker (KRaft, no ZooKeeper) on loopback for the tests. Its jars come from
# Maven Central (scripts/kafka/pom.xml, copied once into target/kafka-libs); it runs from them
# with the machine's Java 17.
#
#   scripts/start-kafka.sh [start] [PORT]   start (or reuse) it, wait until it serves clients,
#                                           print its bootstrap address (only that on stdout)
#   scripts/start-kafka.sh restart [PORT]   stop it and start it again on the same data
#   scripts/start-kafka.sh down [PORT]      stop it, keep its data (`start` brings it back)
#   scripts/start-kafka.sh stop [PORT]      stop it and delete its data
#   scripts/start-kafka.sh libs             only fetch the jars (e.g. before starting the broker
#                                           where Maven Central cannot be reached)
#
# Environment (all optional):
#   SSP_KAFKA_PORT            client port of the first broker (default 19092; PORT wins)
#   SSP_KAFKA_BROKERS         1 (default), or 3: a 3-node cluster on PORT, PORT+1, PORT+2
#   SSP_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 120)
#   SSP_KAFKA_ADVERTISED_PORT one broker only: the port it tells clients to use (e.g. a test's
#                             TCP proxy to PORT; it must listen before the readiness check)
#   SSP_KAFKA_HOST            the address the client listener binds to and advertises
#                             (default 127.0.0.1; e.g. a network namespace's own address)
# Each node is a combined broker+controller, its controller port 1000 above its own. Data, logs
# and pid files live in ${TMPDIR:-/tmp}/ssp-kafka-PORT/node-N/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CMD=start
case "${1:-}" in start | stop | down | restart | libs) CMD="$1"; shift ;; esac
PORT="${1:-${SSP_KAFKA_PORT:-19092}}"
[[ "$PORT" =~ ^[0-9]+$ ]] || { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
DIR="${TMPDIR:-/tmp}/ssp-kafka-$PORT"
LIBS="$ROOT/target/kafka-libs"
LOG4J="$ROOT/scripts/kafka/log4j2.properties"
HOST="${SSP_KAFKA_HOST:-127.0.0.1}"

say() { printf 'start-kafka: %s\n' "$*" >&2; }
listening() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
# An admin tool's JVM: small, quick to start, logs warnings only.
TOOL=(java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dssp.kafka.log.level=WARN
    -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*")

# The jars, resolved again only when the pom changes.
fetch_libs() {
    local want
    command -v java >/dev/null || { say "needs Java 17+ (apt-get install openjdk-17-jre-headless)"; exit 1; }
    want="$(sha256sum "$ROOT/scripts/kafka/pom.xml" | cut -d' ' -f1)"
    [ "$(cat "$LIBS/.pom-sha256" 2>/dev/null)" = "$want" ] && return 0
    command -v mvn >/dev/null || { say "needs Maven (apt-get install -y maven)"; exit 1; }
    say "resolving the Kafka jars from Maven Central into $LIBS"
    rm -rf "$LIBS" "$LIBS.tmp"
    (cd "$ROOT/scripts/kafka" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
        -DoutputDirectory="$LIBS.tmp" >&2)
    mv "$LIBS.tmp" "$LIBS"
    echo "$want" >"$LIBS/.pom-sha256"
}

# Pid of node $1 if it is alive and really our broker (a stale pid file is ignored).
node_pid() {
    local pid
    pid="$(cat "$DIR/node-$1/kafka.pid" 2>/dev/null)" || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $DIR/" || return 1
    echo "$pid"
}

stop_nodes() {
    local pids=() i pid
    for i in $(seq 1 "$(cat "$DIR/brokers" 2>/dev/null || echo 0)"); do
        if pid="$(node_pid "$i")"; then kill "$pid" 2>/dev/null && pids+=("$pid"); fi
        rm -f "$DIR/node-$i/kafka.pid"
    done
    [ "${#pids[@]}" -eq 0 ] && return 0
    say "stopping pid ${pids[*]}"
    for _ in $(seq 1 300); do # 30 s for a clean shutdown, then SIGKILL
        kill -0 "${pids[@]}" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "${pids[@]}" 2>/dev/null || true
}

write_props() { # node voters
    local n="$1" port=$((PORT + $1 - 1)) rf=$N adv=$((PORT + $1 - 1))
    [ "$N" = 1 ] && adv="${SSP_KAFKA_ADVERTISED_PORT:-$port}"
    cat >"$DIR/node-$n/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$2
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://127.0.0.1:$((PORT + 1000 + n - 1))
advertised.listeners=PLAINTEXT://$HOST:$adv
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$DIR/node-$n/data
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=1
# Fast group rebalances and short session timeouts for the tests.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.consumer.min.session.timeout.ms=1000
group.consumer.min.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=4
EOF
}

start_nodes() {
    local i cid voters="" port deadline out
    N="$(cat "$DIR/brokers" 2>/dev/null || echo "${SSP_KAFKA_BROKERS:-1}")"
    if [ "$N" != "${SSP_KAFKA_BROKERS:-$N}" ]; then # another cluster size asked for
        for i in $(seq 1 "$N"); do
            if node_pid "$i" >/dev/null; then
                say "a $N-broker cluster runs on port $PORT: run '$0 stop $PORT' first"
                exit 1
            fi
        done
        rm -rf "$DIR"
        N="$SSP_KAFKA_BROKERS"
    fi
    mkdir -p "$DIR"
    echo "$N" >"$DIR/brokers"
    [ -s "$DIR/cluster-id" ] || { # a Kafka Uuid: 16 random bytes, base64url, no leading '-'
        cid=-
        while [ "${cid:0:1}" = - ]; do
            cid="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
        done
        echo "$cid" >"$DIR/cluster-id"
    }
    for i in $(seq 1 "$N"); do voters+="${voters:+,}$i@127.0.0.1:$((PORT + 1000 + i - 1))"; done
    for i in $(seq 1 "$N"); do
        port=$((PORT + i - 1))
        if node_pid "$i" >/dev/null || listening "$port"; then
            say "reusing the broker on $HOST:$port"
            continue
        fi
        mkdir -p "$DIR/node-$i"
        write_props "$i" "$voters"
        if [ ! -f "$DIR/node-$i/data/meta.properties" ]; then
            "${TOOL[@]}" kafka.tools.StorageTool format --ignore-formatted \
                --config "$DIR/node-$i/server.properties" --cluster-id "$(cat "$DIR/cluster-id")" >&2
        fi
        say "starting broker $i on $HOST:$port (log $DIR/node-$i/kafka.log)"
        # setsid: its own session, so the caller's Ctrl-C or exit does not reach it by accident.
        setsid java -Xms256m -Xmx512m -Djava.awt.headless=true -Dlog4j2.configurationFile="$LOG4J" \
            -cp "$LIBS/*" kafka.Kafka "$DIR/node-$i/server.properties" \
            >"$DIR/node-$i/kafka.log" 2>&1 </dev/null &
        echo $! >"$DIR/node-$i/kafka.pid"
    done
    # Ready = every broker is registered, unfenced and answers ApiVersions (a real client call).
    BOOTSTRAP=""
    for i in $(seq 1 "$N"); do BOOTSTRAP+="${BOOTSTRAP:+,}$HOST:$((PORT + i - 1))"; done
    deadline=$((SECONDS + ${SSP_KAFKA_START_TIMEOUT:-120}))
    while :; do
        for i in $(seq 1 "$N"); do
            if [ -f "$DIR/node-$i/kafka.pid" ] && ! node_pid "$i" >/dev/null; then
                say "broker $i exited; the end of its log:"
                tail -n 30 "$DIR/node-$i/kafka.log" >&2
                exit 1
            fi
        done
        if listening "$PORT"; then
            out="$(timeout 30 "${TOOL[@]}" org.apache.kafka.tools.BrokerApiVersionsCommand \
                --bootstrap-server "$BOOTSTRAP" 2>/dev/null || true)"
            [ "$(grep -c 'isFenced: false' <<<"$out")" -ge "$N" ] && break
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "not ready after ${SSP_KAFKA_START_TIMEOUT:-120} s; logs in $DIR/node-*/kafka.log"
            exit 1
        fi
        sleep 0.5
    done
    say "ready: $BOOTSTRAP ($N broker(s), data in $DIR)"
    echo "$BOOTSTRAP"
}

case "$CMD" in
down)
    stop_nodes
    ;;
stop)
    stop_nodes
    rm -rf "$DIR"
    ;;
restart)
    stop_nodes
    fetch_libs
    start_nodes
    ;;
start)
    fetch_libs
    start_nodes
    ;;
libs)
    fetch_libs
    ;;
esac
