#!/usr/bin/env bash
# broker.sh: a single-node Apache Kafka (KRaft) broker for the `kafka` tests.
#
#   broker.sh start STATE   fetch the broker with Maven (cached in ~/.m2), format a temporary
#                           log dir, start it on 127.0.0.1 with free ports, wait until it
#                           serves, write STATE/env (PD_KAFKA_BOOTSTRAP=...). A supervisor
#                           process owns the JVM: it stops the broker and removes its data when
#                           `stop` is called, when the process that ran `start` (ctest) dies,
#                           or after PD_KAFKA_MAX_LIFETIME seconds (default 3600).
#   broker.sh stop STATE    stop the broker and remove its data (idempotent).
#   broker.sh bounce STATE SECONDS
#                           stop the broker process, keep it down SECONDS, start it again on the
#                           same ports and data (for the broker-outage test).
#   broker.sh exec STATE CMD [ARGS...]
#                           run CMD with STATE/env exported. When the broker is not there, the
#                           command fails under CI=true, else it is skipped (exit 77).
#
# Env: PD_KAFKA_VERSION (default 4.1.1), PD_KAFKA_JAVA_OPTS (default -Xmx512m ...).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${PD_KAFKA_VERSION:-4.1.1}"
JAVA_OPTS_DEFAULT="-Xmx512m -Xms128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
JAVA_OPTS="${PD_KAFKA_JAVA_OPTS:-$JAVA_OPTS_DEFAULT}"
LOG_OPTS="-Dorg.slf4j.simpleLogger.defaultLogLevel=warn
 -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaRaftServer=info
 -Dorg.slf4j.simpleLogger.showDateTime=true"

die() {
    echo "broker.sh: $*" >&2
    exit 1
}

# Java and Maven come from Debian packages; install them when missing and we can.
need_tools() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    command -v openssl >/dev/null || missing+=(openssl)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "broker.sh: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
            { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; }
    else
        die "missing ${missing[*]} (apt-get install ${missing[*]})"
    fi
}

# The broker's jars: `mvn dependency:copy-dependencies` into a directory next to STATE,
# redone only when the pom or the version changes. Maven caches downloads in ~/.m2.
fetch_jars() {
    local jars="$1" stamp
    stamp="$KAFKA_VERSION $(cksum <"$HERE/pom.xml")"
    if [ -f "$jars/.stamp" ] && [ "$(cat "$jars/.stamp")" = "$stamp" ]; then
        return 0
    fi
    rm -rf "$jars"
    mkdir -p "$jars"
    echo "broker.sh: fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven" >&2
    mvn -q -B -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$jars" >&2 ||
        die "mvn could not fetch the Kafka broker"
    ls "$jars"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $jars"
    echo "$stamp" >"$jars/.stamp"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports below the ephemeral range: while the broker is down (bounce), clients reconnecting
# take ephemeral local ports, and one of them must not be the port the broker binds again.
free_port() {
    local p i lo=32768 span
    read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
    span=$((lo - 1 - 10000))
    [ "$span" -gt 1000 ] || die "no port range below the ephemeral ports ($lo)"
    for i in $(seq 1 200); do
        p=$((10000 + (RANDOM * 32768 + RANDOM) % span))
        if port_free "$p" && ! grep -qx "$p" "$STATE/ports" 2>/dev/null; then
            echo "$p" >>"$STATE/ports"
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

java_cp() { java $JAVA_OPTS $LOG_OPTS -cp "$JARS/*" "$@"; }

# Self-signed certificate for the SASL_SSL listener (the Event Hubs test), in PEM files.
make_cert() {
    local d="$1"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$d/key.pem" -out "$d/cert.pem" >/dev/null 2>&1 || die "openssl failed"
    cp "$d/cert.pem" "$STATE/ca.pem"
}

write_props() {
    local d="$1" bport="$2" cport="$3" sport="$4"
    # PEM key and chain go inline (one line each, newlines escaped) so no keystore tool is needed.
    local key chain
    key="$(awk '{printf "%s\\n", $0}' "$d/key.pem")"
    chain="$(awk '{printf "%s\\n", $0}' "$d/cert.pem")"
    cat >"$d/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport,SASL_SSL://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport,SASL_SSL://127.0.0.1:$sport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$d/logs
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
# Tests stamp generated messages with their (simulated, months old) event time: keep
# everything, or time-based retention would delete it within minutes.
log.retention.ms=-1
num.network.threads=2
num.io.threads=2
background.threads=2
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_\$ConnectionString="${PD_KAFKA_SASL_PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.key=${key}
ssl.keystore.certificate.chain=${chain}
EOF
}

# STATE/sasl.password is the whole Event Hubs connection string the SASL listener accepts.
sasl_password() {
    echo "Endpoint=sb://127.0.0.1:$1/;SharedAccessKeyName=pd-test;SharedAccessKey=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
}

launch_java() {
    # shellcheck disable=SC2086
    java $JAVA_OPTS $LOG_OPTS -cp "$JARS/*" kafka.Kafka "$DATA/server.properties" \
        >>"$STATE/broker.log" 2>&1 &
    echo $! >"$STATE/java.pid"
}

stop_java() {
    local jpid
    jpid="$(cat "$STATE/java.pid" 2>/dev/null || true)"
    [ -n "$jpid" ] || return 0
    kill -TERM "$jpid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$jpid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$jpid" 2>/dev/null || true
    wait "$jpid" 2>/dev/null || true
    rm -f "$STATE/java.pid"
}

# The supervisor: the JVM's only parent. Whatever ends it, the broker and its data go.
supervise() {
    STATE="$1" DATA="$2" WATCH="$3" JARS="$4"
    local lifetime="${PD_KAFKA_MAX_LIFETIME:-3600}" start
    start=$(date +%s)
    cleanup() {
        stop_java
        rm -rf "$DATA"
        rm -f "$STATE/env" "$STATE/supervisor.pid" "$STATE/stop" "$STATE/sasl.password" "$STATE/ports"
    }
    trap cleanup EXIT
    trap 'exit 0' TERM INT HUP
    launch_java
    while :; do
        [ -e "$STATE/stop" ] && break
        kill -0 "$WATCH" 2>/dev/null || {
            echo "broker.sh: watched process $WATCH is gone; stopping" >>"$STATE/broker.log"
            break
        }
        [ $(($(date +%s) - start)) -lt "$lifetime" ] || break
        if [ -e "$STATE/bounce" ]; then
            local secs
            secs="$(cat "$STATE/bounce")"
            stop_java
            echo "broker.sh: broker down for ${secs}s" >>"$STATE/broker.log"
            rm -f "$STATE/bounce"
            touch "$STATE/down"
            sleep "$secs"
            launch_java
            rm -f "$STATE/down"
        fi
        if ! kill -0 "$(cat "$STATE/java.pid")" 2>/dev/null; then
            echo "broker.sh: broker exited" >>"$STATE/broker.log"
            break
        fi
        sleep 0.5
    done
}

wait_ready() {
    local bport="$1" deadline=$(($(date +%s) + ${PD_KAFKA_START_TIMEOUT:-120}))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        if [ -e "$STATE/supervisor.pid" ] && ! kill -0 "$(cat "$STATE/supervisor.pid")" 2>/dev/null; then
            return 1
        fi
        if grep -q "Kafka Server started" "$STATE/broker.log" 2>/dev/null && ! port_free "$bport"; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

cmd_start() {
    STATE="$1"
    mkdir -p "$STATE"
    STATE="$(cd "$STATE" && pwd)"
    [ -e "$STATE/supervisor.pid" ] && cmd_stop "$STATE"
    rm -f "$STATE/ports" "$STATE/env" "$STATE/broker.log" "$STATE/stop" "$STATE/bounce"
    need_tools
    JARS="$STATE/../jars"
    fetch_jars "$JARS"
    JARS="$(cd "$JARS" && pwd)"
    DATA="$(mktemp -d "${TMPDIR:-/tmp}/pd-kafka.XXXXXX")"
    local bport cport sport cluster
    bport="$(free_port)"
    cport="$(free_port)"
    sport="$(free_port)"
    PD_KAFKA_SASL_PASSWORD="$(sasl_password "$sport")"
    make_cert "$DATA"
    write_props "$DATA" "$bport" "$cport" "$sport"
    cluster="$(java_cp kafka.tools.StorageTool random-uuid 2>>"$STATE/broker.log" | tail -1)"
    [ -n "$cluster" ] || { rm -rf "$DATA"; die "StorageTool random-uuid failed (see $STATE/broker.log)"; }
    java_cp kafka.tools.StorageTool format --standalone -t "$cluster" -c "$DATA/server.properties" \
        >>"$STATE/broker.log" 2>&1 || { rm -rf "$DATA"; die "StorageTool format failed (see $STATE/broker.log)"; }
    local watch="${PD_KAFKA_WATCH_PID:-$PPID}"
    setsid bash "$HERE/broker.sh" supervise "$STATE" "$DATA" "$watch" "$JARS" </dev/null \
        >>"$STATE/supervisor.log" 2>&1 &
    echo $! >"$STATE/supervisor.pid"
    if ! wait_ready "$bport"; then
        echo "broker.sh: the broker did not start; last lines of $STATE/broker.log:" >&2
        tail -n 30 "$STATE/broker.log" >&2 || true
        cmd_stop "$STATE"
        exit 1
    fi
    {
        echo "PD_KAFKA_BOOTSTRAP=127.0.0.1:$bport"
        echo "PD_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$sport"
        echo "PD_KAFKA_SASL_CA=$STATE/ca.pem"
        echo "PD_KAFKA_STATE=$STATE"
    } >"$STATE/env"
    # Secret kept out of the env file that tests print; the Event Hubs test reads it from here.
    (umask 077 && printf '%s\n' "$PD_KAFKA_SASL_PASSWORD" >"$STATE/sasl.password")
    echo "broker.sh: Kafka $KAFKA_VERSION up at 127.0.0.1:$bport (SASL_SSL 127.0.0.1:$sport)"
}

cmd_stop() {
    STATE="$1"
    [ -d "$STATE" ] || return 0
    local spid
    spid="$(cat "$STATE/supervisor.pid" 2>/dev/null || true)"
    if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
        touch "$STATE/stop"
        for _ in $(seq 1 300); do
            kill -0 "$spid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "$spid" 2>/dev/null || true
        sleep 0.5
    fi
    # Belt and braces: whatever survived goes too.
    local jpid
    jpid="$(cat "$STATE/java.pid" 2>/dev/null || true)"
    [ -n "$jpid" ] && kill -KILL "$jpid" 2>/dev/null || true
    rm -f "$STATE/env" "$STATE/supervisor.pid" "$STATE/java.pid" "$STATE/stop" \
        "$STATE/sasl.password" "$STATE/ports"
    echo "broker.sh: stopped"
}

cmd_bounce() {
    STATE="$1"
    [ -e "$STATE/supervisor.pid" ] || die "no broker at $STATE"
    echo "$2" >"$STATE/bounce"
    for _ in $(seq 1 100); do
        [ -e "$STATE/bounce" ] || return 0
        sleep 0.1
    done
    die "the supervisor did not take the bounce"
}

cmd_exec() {
    STATE="$1"
    shift
    if [ ! -f "$STATE/env" ]; then
        if [ "${CI:-}" = true ]; then
            echo "FAIL: no Kafka broker (harness state $STATE/env missing; CI=true: kafka tests never skip)" >&2
            exit 1
        fi
        echo "SKIP: no Kafka broker (run the tests with 'ctest -L kafka' so the fixture starts one)" >&2
        exit 77
    fi
    set -a
    # shellcheck disable=SC1091
    . "$STATE/env"
    set +a
    exec "$@"
}

case "${1:-}" in
start) cmd_start "${2:?STATE}" ;;
stop) cmd_stop "${2:?STATE}" ;;
bounce) cmd_bounce "${2:?STATE}" "${3:?SECONDS}" ;;
exec) shift && cmd_exec "$@" ;;
supervise) shift && supervise "$@" ;;
*) die "usage: broker.sh start|stop|bounce|exec STATE ..." ;;
esac
