#!/usr/bin/env bash
# Real test services on loopback for kcql's integration tests.
#
#   scripts/services.sh up     [service...]   install (first use) + start what is not answering
#   scripts/services.sh down   [service...]   stop what this script started (pid files)
#   scripts/services.sh status [service...]   exit 0 if all answer, 3 otherwise
#   scripts/services.sh reset  [service...]   down, delete data (keep the log), up: a fresh start
#   scripts/services.sh logs   [-f] [service...]  tail logs (-f: follow)
#
# Services (see docs/services.md):
#   mosquitto         MQTT (Mosquitto 2)                127.0.0.1:1883
#   influxdb          InfluxDB 1.x (/write, /query)     127.0.0.1:8086
#   influxdb-tls      the same over HTTPS (test CA)     127.0.0.1:8087 (CA: influxdb-tls/tls/ca.pem)
#   victoria-metrics  InfluxDB v2 write API             127.0.0.1:8428
#   kafka             Apache Kafka 4 (KRaft, 1 node)    127.0.0.1:9092 PLAINTEXT
#                                                       127.0.0.1:9093 SSL (client certificate)
#                                                       127.0.0.1:9094 SASL_SSL (SCRAM-SHA-512)
#
# Everything (configs, data, logs, pid files) lives under $REPO/target/services/<name>/.
# Works from any current directory. Installing uses apt-get (root or sudo) and, for Kafka's
# jars, Maven (scripts/kafka/pom.xml; cached in ~/.m2).
#
# Environment:
#   KCQL_SERVICES_DIR     override the state directory (default $REPO/target/services)
#   KCQL_SERVICES_TIMEOUT health-check deadline in seconds per service (default 60)
#   KCQL_KAFKA_HEAP       the Kafka JVM's heap options (default "-Xms256m -Xmx512m")
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
SVC_ROOT=${KCQL_SERVICES_DIR:-$REPO/target/services}
TIMEOUT=${KCQL_SERVICES_TIMEOUT:-60}
KAFKA_HEAP=${KCQL_KAFKA_HEAP:--Xms256m -Xmx512m}
KAFKA_POM=$SCRIPT_DIR/kafka/pom.xml
KAFKA_LOG4J=$SCRIPT_DIR/kafka/log4j2.properties
# The SCRAM user created when the Kafka broker's storage is formatted (SASL_SSL listener).
KAFKA_SCRAM_USER=kcql
KAFKA_SCRAM_PASSWORD=kcql-secret

ALL_SERVICES=(mosquitto influxdb influxdb-tls victoria-metrics kafka)

# /usr/sbin is not always on PATH for non-login shells; mosquitto lives there.
export PATH="$PATH:/usr/sbin:/sbin"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- per-service facts

addr_of() {
  case $1 in
    mosquitto) echo 127.0.0.1:1883 ;;
    influxdb) echo 127.0.0.1:8086 ;;
    influxdb-tls) echo 127.0.0.1:8087 ;;
    victoria-metrics) echo 127.0.0.1:8428 ;;
    kafka) echo 127.0.0.1:9092 ;;
  esac
}

# binary basename expected in /proc/<pid>/cmdline (guards against pid reuse)
bin_of() {
  case $1 in
    mosquitto) echo mosquitto ;;
    influxdb | influxdb-tls) echo influxd ;;
    victoria-metrics) echo victoria-metrics ;;
    kafka) echo kafka.Kafka ;;
  esac
}

dir_of() { echo "$SVC_ROOT/$1"; }
pidfile_of() { echo "$SVC_ROOT/$1/$1.pid"; }
logfile_of() { echo "$SVC_ROOT/$1/$1.log"; }

canon() {
  case $1 in
    mosquitto | mqtt) echo mosquitto ;;
    influxdb | influx | influxd) echo influxdb ;;
    influxdb-tls | influx-tls | influxdb-https) echo influxdb-tls ;;
    victoria-metrics | victoriametrics | vm) echo victoria-metrics ;;
    kafka) echo kafka ;;
    *) die "unknown service '$1' (known: ${ALL_SERVICES[*]})" ;;
  esac
}

# ---------------------------------------------------------------- health checks

tcp_open() { # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

healthy() {
  case $1 in
    mosquitto)
      if command -v mosquitto_sub >/dev/null 2>&1; then
        # a real MQTT CONNECT/SUBSCRIBE round trip that publishes nothing (tests subscribed to
        # '#' see no noise): the broker's retained $SYS version topic arrives on subscribe.
        # shellcheck disable=SC2016 # literal $SYS topic
        timeout 5 mosquitto_sub -h 127.0.0.1 -p 1883 -i "kcql-services-health-$$" \
          -t '$SYS/broker/version' -C 1 -W 3 >/dev/null 2>&1
      else
        tcp_open 127.0.0.1 1883
      fi
      ;;
    influxdb) [[ $(curl -s -o /dev/null -w '%{http_code}' -m 2 http://127.0.0.1:8086/ping) == 204 ]] ;;
    influxdb-tls)
      # verified against our test CA: a server with another certificate is not ours
      [[ -s $(dir_of influxdb-tls)/tls/ca.pem ]] &&
        [[ $(curl -s -o /dev/null -w '%{http_code}' -m 2 --cacert "$(dir_of influxdb-tls)/tls/ca.pem" \
          https://127.0.0.1:8087/ping) == 204 ]]
      ;;
    victoria-metrics) curl -sf -o /dev/null -m 2 http://127.0.0.1:8428/health ;;
    kafka) kafka_metadata_answers 9092 ;;
  esac
}

# A Kafka Metadata request (API key 3, version 4, all topics) over the Kafka protocol; healthy
# when the answer carries our correlation id and lists at least one broker. A TCP connect
# alone would also pass while the broker is still recovering its log or electing itself.
kafka_metadata_answers() { # port
  local answer
  # size 19 | api key 3 | version 4 | correlation id "kcqq" | client id "kcql" | topics null | no auto-create
  answer=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1
    printf '\\x00\\x00\\x00\\x13\\x00\\x03\\x00\\x04kcqq\\x00\\x04kcql\\xff\\xff\\xff\\xff\\x00' >&3
    head -c 16 <&3" 2>/dev/null | od -An -tx1 | tr -d ' \n') || return 1
  # response: size (4) | correlation id (4) | throttle ms (4) | broker count (4)
  [[ ${#answer} -eq 32 && ${answer:8:8} == 6b637171 && $((16#${answer:24:8})) -ge 1 ]]
}

# alive and not a zombie (an exited service stays a zombie until init reaps it)
alive() {
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z && $st != X ]]
}

is_bin() { # pid svc: the process is alive and runs the expected binary (guards pid reuse)
  [[ $1 =~ ^[0-9]+$ ]] && alive "$1" || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$(bin_of "$2")"
}

# pid from our pid file if that process is alive and is the expected binary
our_pid() {
  local pf pid
  pf=$(pidfile_of "$1")
  if [[ -s $pf ]]; then
    pid=$(<"$pf")
    if is_bin "$pid" "$1"; then
      echo "$pid"
      return 0
    fi
  fi
  adopt_pid "$1"
}

# The pid file is gone (e.g. `cargo clean` wiped target/) but the listener on our port may
# still be a process we started: our binary, with our state dir in its command line or as
# its working directory. Re-adopt it (rewrite the pid file) so `down` can stop it.
adopt_pid() {
  local svc=$1 port pid d cwd
  command -v ss >/dev/null 2>&1 || return 1
  port=$(addr_of "$svc")
  port=${port##*:}
  pid=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
  [[ -n $pid ]] && is_bin "$pid" "$svc" || return 1
  d=$(dir_of "$svc")
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
  if [[ ${cwd% (deleted)} == "$d" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$d/"; then
    mkdir -p "$d" && echo "$pid" >"$(pidfile_of "$svc")"
    echo "$pid"
    return 0
  fi
  return 1
}

# ---------------------------------------------------------------- installation

SUDO=()
if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi

APT_UPDATED=0
apt_install() { # packages...
  log "installing $* (apt-get)"
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2; then
    if [[ $APT_UPDATED -eq 0 ]]; then
      APT_UPDATED=1
      log "apt-get install failed; running apt-get update and retrying"
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
    else
      return 1
    fi
  fi
}

# A freshly installed Debian package may start its own system service (where systemd runs)
# on the same port with the system config. We installed it, so we stop that copy.
stop_system_unit() { # unit
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$1" 2>/dev/null; then
    log "stopping and disabling system unit $1 started by the package install (we run our own)"
    "${SUDO[@]}" systemctl stop "$1" || true
    "${SUDO[@]}" systemctl disable "$1" >/dev/null 2>&1 || true
  fi
}

ensure_installed() {
  case $1 in
    mosquitto)
      local pkgs=()
      command -v mosquitto >/dev/null 2>&1 || pkgs+=(mosquitto)
      command -v mosquitto_pub >/dev/null 2>&1 || pkgs+=(mosquitto-clients)
      if ((${#pkgs[@]})); then
        apt_install "${pkgs[@]}"
        stop_system_unit mosquitto
      fi
      ;;
    influxdb | influxdb-tls)
      if ! command -v influxd >/dev/null 2>&1; then
        apt_install influxdb
        stop_system_unit influxdb
      fi
      [[ $1 == influxdb ]] || command -v openssl >/dev/null 2>&1 || apt_install openssl
      ;;
    victoria-metrics)
      if ! command -v victoria-metrics >/dev/null 2>&1; then
        apt_install victoria-metrics
        stop_system_unit victoria-metrics
      fi
      ;;
    kafka)
      command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
      command -v mvn >/dev/null 2>&1 || apt_install maven
      command -v openssl >/dev/null 2>&1 || apt_install openssl
      install_kafka_jars
      ;;
  esac
}

# The pinned version in scripts/kafka/pom.xml.
kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM"
}

# Copies the broker's jars from Maven Central (through ~/.m2) into target/services/kafka/libs,
# once per pinned version. Private test brokers (kcql-testkit) use the same directory.
install_kafka_jars() {
  local d libs version stamp mlog
  d=$(dir_of kafka)
  libs=$d/libs
  version=$(kafka_version)
  stamp=$libs/.kafka-version
  [[ -f $stamp && $(<"$stamp") == "$version" ]] && return 0
  mkdir -p "$d"
  mlog=$d/maven.log
  log "fetching Apache Kafka $version jars with Maven (cached in ~/.m2; log: $mlog)"
  rm -rf "$libs.tmp"
  if ! mvn -B -q -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    "-DoutputDirectory=$libs.tmp" >"$mlog" 2>&1; then
    tail -n 30 "$mlog" >&2
    die "kafka: mvn dependency:copy-dependencies failed (log: $mlog)"
  fi
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  echo "$version" >"$stamp"
}

# A CA, a broker certificate for 127.0.0.1/localhost and a client certificate, made once with
# openssl (PEM; Kafka reads PEM key stores). Tests find them under target/services/kafka/tls/.
make_kafka_tls() { # dir
  local t=$1/tls
  [[ -s $t/ca.pem && -s $t/broker-keystore.pem && -s $t/client.pem ]] && return 0
  mkdir -p "$t"
  (
    cd "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=kcql test CA" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >broker.ext
    openssl req -newkey rsa:2048 -nodes -keyout broker.rsa.key -out broker.csr \
      -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.pem 2>/dev/null
    # Kafka's PEM key store wants an unencrypted PKCS#8 key after the certificate chain.
    openssl pkcs8 -topk8 -nocrypt -in broker.rsa.key -out broker.key
    cat broker.pem broker.key >broker-keystore.pem
    openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
      -subj "/CN=kcql-client" 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -out client.pem 2>/dev/null
    rm -f ./*.csr broker.rsa.key
  ) || die "kafka: making the TLS files with openssl failed"
  log "kafka: made a test CA, broker and client certificates in $t"
}

# A CA and a server certificate for 127.0.0.1/localhost (PEM), made once with openssl, for the
# HTTPS InfluxDB. Tests find the CA at target/services/influxdb-tls/tls/ca.pem.
make_influxdb_tls() { # dir
  local t=$1/tls
  [[ -s $t/ca.pem && -s $t/server.pem && -s $t/server.key ]] && return 0
  mkdir -p "$t"
  (
    cd "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 3650 \
      -subj "/CN=kcql InfluxDB test CA" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
      -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem 2>/dev/null
    rm -f ./*.csr
  ) || die "influxdb-tls: making the TLS files with openssl failed"
  log "influxdb-tls: made a test CA and a server certificate in $t"
}

write_kafka_conf() { # dir
  local d=$1
  {
    echo "# Generated by scripts/services.sh -- edits are overwritten on every 'up'."
    echo "# The shared settings (scripts/kafka/broker.properties), then this broker's own."
    cat "$SCRIPT_DIR/kafka/broker.properties"
    cat <<EOF

controller.quorum.bootstrap.servers=127.0.0.1:9099
listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094,CONTROLLER://127.0.0.1:9099
advertised.listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
log.dirs=$d/data
log.segment.bytes=67108864

# TLS (listener SSL requires a client certificate) and SCRAM (listener SASL_SSL).
ssl.keystore.type=PEM
ssl.keystore.location=$d/tls/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$d/tls/ca.pem
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
EOF
  } >"$d/server.properties"
}

# The java command line for one of Kafka's main classes, with the jars and the log config.
kafka_java() { # main-class args...
  local d
  d=$(dir_of kafka)
  # shellcheck disable=SC2206 # KAFKA_HEAP is a list of JVM options
  local heap=($KAFKA_HEAP)
  printf '%s\n' "$(command -v java)" "${heap[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Djava.awt.headless=true "-Dlog4j2.configurationFile=$KAFKA_LOG4J" \
    -cp "$d/libs/*" "$@"
}

# Formats the storage once (KRaft needs a cluster id and a voter set before the first start),
# creating the SCRAM user at the same time.
format_kafka() { # dir
  local d=$1 id
  [[ -f $d/data/meta.properties ]] && return 0
  local -a java_cmd
  mapfile -t java_cmd < <(kafka_java kafka.tools.StorageTool random-uuid)
  id=$("${java_cmd[@]}" 2>>"$(logfile_of kafka)" | tail -n 1)
  [[ -n $id ]] || die "kafka: StorageTool random-uuid printed nothing (log: $(logfile_of kafka))"
  mapfile -t java_cmd < <(kafka_java kafka.tools.StorageTool format --standalone -t "$id" \
    -c "$d/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
  if ! "${java_cmd[@]}" >>"$(logfile_of kafka)" 2>&1; then
    tail -n 20 "$(logfile_of kafka)" >&2
    die "kafka: formatting the storage failed"
  fi
  log "kafka: storage formatted (cluster id $id, SCRAM user $KAFKA_SCRAM_USER)"
}

# ---------------------------------------------------------------- configs + start commands

write_mosquitto_conf() { # dir
  local d=$1
  sed -e "s|@PORT@|1883|g" -e "s|@DATA@|$d/data|g" -e "s|@LOG_DEST@|file $d/mosquitto.log|g" \
    "$SCRIPT_DIR/mosquitto/mosquitto.conf.in" >"$d/mosquitto.conf"
}

write_influxdb_conf() { # dir
  local d=$1
  sed -e "s|@RPC_PORT@|8088|g" -e "s|@HTTP_PORT@|8086|g" -e "s|@STATE@|$d|g" \
    "$SCRIPT_DIR/influxdb/influxdb.conf.in" >"$d/influxdb.conf"
}

# The shared InfluxDB's config with HTTPS on (certificate and key from make_influxdb_tls).
write_influxdb_tls_conf() { # dir
  local d=$1
  sed -e "s|@RPC_PORT@|8089|g" -e "s|@HTTP_PORT@|8087|g" -e "s|@STATE@|$d|g" \
    -e "/^\[http\]/a\\
  https-enabled = true\\
  https-certificate = \"$d/tls/server.pem\"\\
  https-private-key = \"$d/tls/server.key\"" \
    "$SCRIPT_DIR/influxdb/influxdb.conf.in" >"$d/influxdb.conf"
}

# What a service needs on disk before its first start (run in this shell, so errors stop `up`).
prepare_one() {
  local d
  d=$(dir_of "$1")
  case $1 in
    influxdb-tls) make_influxdb_tls "$d" ;;
    kafka)
      mkdir -p "$d/data"
      make_kafka_tls "$d"
      write_kafka_conf "$d"
      format_kafka "$d"
      ;;
  esac
}

# Prints the command (one word per line) that runs the service in the foreground.
start_cmd() {
  local d
  d=$(dir_of "$1")
  case $1 in
    mosquitto)
      mkdir -p "$d/data"
      write_mosquitto_conf "$d"
      printf '%s\n' "$(command -v mosquitto)" -c "$d/mosquitto.conf"
      ;;
    influxdb)
      mkdir -p "$d/meta" "$d/data" "$d/wal"
      write_influxdb_conf "$d"
      printf '%s\n' "$(command -v influxd)" run -config "$d/influxdb.conf"
      ;;
    influxdb-tls)
      mkdir -p "$d/meta" "$d/data" "$d/wal"
      write_influxdb_tls_conf "$d"
      printf '%s\n' "$(command -v influxd)" run -config "$d/influxdb.conf"
      ;;
    victoria-metrics)
      mkdir -p "$d/data"
      printf '%s\n' "$(command -v victoria-metrics)" \
        -httpListenAddr=127.0.0.1:8428 \
        "-storageDataPath=$d/data" \
        -retentionPeriod=100y \
        -search.latencyOffset=0s \
        -search.disableCache \
        -memory.allowedPercent=20
      ;;
    kafka) kafka_java kafka.Kafka "$d/server.properties" ;;
  esac
}

# ---------------------------------------------------------------- commands

wait_healthy() { # svc pid deadline_seconds
  local svc=$1 pid=$2 limit=$3 t0=$SECONDS
  while ! healthy "$svc"; do
    if [[ -n $pid ]] && ! alive "$pid"; then
      return 2
    fi
    ((SECONDS - t0 < limit)) || return 1
    sleep 0.3
  done
}

fail_start() { # svc reason
  local lf
  lf=$(logfile_of "$1")
  log "FAILED: $1 $2 -- last lines of $lf:"
  tail -n 25 "$lf" >&2 2>/dev/null || true
  port=$(addr_of "$1")
  port=${port##*:}
  if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    log "port $port is held by: $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -1)"
  fi
  FAILED+=("$1")
}

up_one() {
  local svc=$1 d pid addr limit
  d=$(dir_of "$svc")
  addr=$(addr_of "$svc")
  mkdir -p "$d"
  if pid=$(our_pid "$svc"); then
    if healthy "$svc"; then
      log "$svc: already running (pid $pid, $addr)"
      return 0
    fi
    log "$svc: pid $pid exists but not answering yet; waiting"
  else
    rm -f "$(pidfile_of "$svc")"
    pid=
    if healthy "$svc"; then
      log "$svc: already answering on $addr (not started by services.sh; its config may differ)"
      return 0
    fi
    ensure_installed "$svc"
    prepare_one "$svc"
    local -a cmd
    mapfile -t cmd < <(start_cmd "$svc")
    local lf
    lf=$(logfile_of "$svc")
    printf '\n==== %s starting: %s\n' "$(date -Is)" "${cmd[*]}" >>"$lf"
    # setsid: own session, so the service survives this script and its terminal.
    (cd "$d" && exec setsid nohup "${cmd[@]}" >>"$lf" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$(pidfile_of "$svc")"
    log "$svc: started (pid $pid) -> $addr"
  fi
  limit=$TIMEOUT
  local t0=$SECONDS rc=0
  wait_healthy "$svc" "$pid" "$limit" || rc=$?
  case $rc in
    0) log "$svc: healthy after $((SECONDS - t0))s (log: $(logfile_of "$svc"))" ;;
    2)
      rm -f "$(pidfile_of "$svc")"
      fail_start "$svc" "exited during startup"
      ;;
    *) fail_start "$svc" "not healthy within ${limit}s (pid $pid left running; 'down' stops it)" ;;
  esac
}

down_one() {
  local svc=$1 pid pf
  pf=$(pidfile_of "$svc")
  if ! pid=$(our_pid "$svc"); then
    rm -f "$pf"
    if healthy "$svc"; then
      log "$svc: not started by services.sh (no live pid file) but something answers on $(addr_of "$svc"); leaving it alone"
    else
      log "$svc: not running"
    fi
    return 0
  fi
  log "$svc: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local t0=$SECONDS
  while alive "$pid"; do
    if ((SECONDS - t0 >= 30)); then
      log "$svc: still alive after 30s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$pf"
  log "$svc: stopped"
}

status_one() {
  local svc=$1 pid addr
  addr=$(addr_of "$svc")
  if healthy "$svc"; then
    if pid=$(our_pid "$svc"); then
      printf '%-17s running  pid %-8s %s\n' "$svc" "$pid" "$addr"
    else
      printf '%-17s running  %-12s %s (not started by services.sh)\n' "$svc" "pid ?" "$addr"
    fi
    return 0
  fi
  if pid=$(our_pid "$svc"); then
    printf '%-17s unhealthy pid %-7s %s (process alive, not answering)\n' "$svc" "$pid" "$addr"
  else
    printf '%-17s stopped  %-12s %s\n' "$svc" "" "$addr"
  fi
  return 1
}

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
  local action=${1:-}
  [[ -n $action ]] || {
    usage >&2
    exit 2
  }
  shift
  local follow=0
  if [[ $action == logs && ${1:-} =~ ^(-f|--follow)$ ]]; then
    follow=1
    shift
  fi
  local -a svcs=()
  local s
  for s in "$@"; do svcs+=("$(canon "$s")"); done
  ((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")

  case $action in
    up)
      FAILED=()
      local t0=$SECONDS
      for s in "${svcs[@]}"; do up_one "$s"; done
      if ((${#FAILED[@]})); then
        log "up FAILED for: ${FAILED[*]}"
        exit 1
      fi
      log "all up in $((SECONDS - t0))s; state, data and logs under $SVC_ROOT/<name>/ ('$0 logs [name]')"
      ;;
    down)
      # reverse order: the Kafka broker first, MQTT last
      local i
      for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do down_one "${svcs[i]}"; done
      ;;
    reset)
      # CI always starts from an empty state; this gives a developer the same (the logs, Kafka's
      # jars and its TLS files stay).
      local i
      for ((i = ${#svcs[@]} - 1; i >= 0; i--)); do
        down_one "${svcs[i]}"
        find "$(dir_of "${svcs[i]}")" -mindepth 1 -maxdepth 1 ! -name '*.log' ! -name libs \
          ! -name tls -exec rm -rf {} +
        log "${svcs[i]}: data deleted"
      done
      FAILED=()
      for s in "${svcs[@]}"; do up_one "$s"; done
      if ((${#FAILED[@]})); then
        log "reset FAILED for: ${FAILED[*]}"
        exit 1
      fi
      ;;
    status)
      local bad=0
      for s in "${svcs[@]}"; do status_one "$s" || bad=1; done
      ((bad == 0)) || exit 3
      ;;
    logs)
      local -a files=()
      for s in "${svcs[@]}"; do
        [[ -f $(logfile_of "$s") ]] && files+=("$(logfile_of "$s")")
      done
      ((${#files[@]})) || die "no logs yet under $SVC_ROOT"
      if ((follow)); then
        exec tail -n 50 -F "${files[@]}"
      else
        tail -n "${LOG_LINES:-50}" "${files[@]}"
      fi
      ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
