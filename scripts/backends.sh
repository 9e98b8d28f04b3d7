#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# backends.sh installs, starts and stops the real backends Vigil's bench and
# end-to-end tests talk to: Jaeger v2, Prometheus 3 (and on demand a second
# one, prometheus3meta, with type-and-unit labels), VictoriaLogs (the logs
# backend: it implements Loki's push API), the telemetrygen load generator
# and, from Debian, Prometheus 2.42 and Alertmanager. What builds Vigil itself
# (ocb, mdatagen, Helm, clang, gcc) is scripts/toolchain.sh's job.
#
# Names and versions are in scripts/versions.sh. Everything is built from the
# Go module proxy into a cache outside the work tree, keyed by name and
# version, so a second install takes seconds:
#   ${VIGIL_CACHE:-$HOME/.cache/vigil}/<name>-<version>/
# Running state (configs, data, logs, PIDs) lives under
#   ${VIGIL_RUN:-/tmp/vigil-bench}/<name>/
# `stop` keeps the data (an outage test stops and restarts a backend);
# `clean` stops and throws it away. Every listener binds 127.0.0.1.
#
# Usage: scripts/backends.sh install [step...]   (default: every step, in order)
#        scripts/backends.sh start|stop|clean [service...]
#        scripts/backends.sh status|env
set -euo pipefail
LOG_NAME=backends
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
RUN=${VIGIL_RUN:-/tmp/vigil-bench}
# Prometheus 3.x.y is the Go module version v0.3xx.y.
IFS=. read -r prom_major prom_minor prom_patch <<<"$PROMETHEUS_VERSION"
PROMETHEUS_MODULE_VERSION=$(printf 'v0.%d%02d.%d' "$prom_major" "$prom_minor" "$prom_patch")

# Ports. Jaeger v2 is itself a collector; its defaults (4317, 4318, 8888,
# 13133) would collide with Vigil's, so it gets its own.
JAEGER_OTLP_GRPC=${JAEGER_OTLP_GRPC:-127.0.0.1:24317}
JAEGER_OTLP_HTTP=${JAEGER_OTLP_HTTP:-127.0.0.1:24318}
JAEGER_GRPC=${JAEGER_GRPC:-127.0.0.1:14250}       # jaeger.api_v2 CollectorService
JAEGER_QUERY=${JAEGER_QUERY:-127.0.0.1:16686}
JAEGER_QUERY_GRPC=${JAEGER_QUERY_GRPC:-127.0.0.1:16685}
JAEGER_HEALTH=${JAEGER_HEALTH:-127.0.0.1:13134}
JAEGER_METRICS_PORT=${JAEGER_METRICS_PORT:-18888}
PROMETHEUS_ADDR=${PROMETHEUS_ADDR:-127.0.0.1:9090}
PROMETHEUS3META_ADDR=${PROMETHEUS3META_ADDR:-127.0.0.1:9091}
PROMETHEUS2_ADDR=${PROMETHEUS2_ADDR:-127.0.0.1:9092}
VICTORIALOGS_ADDR=${VICTORIALOGS_ADDR:-127.0.0.1:9428}
ALERTMANAGER_ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:9093}

jaeger_bin()       { echo "$CACHE/jaeger-$JAEGER_MODULE_VERSION/jaeger"; }
prometheus_bin()   { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/prometheus"; }
promtool_bin()     { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/promtool"; }
victorialogs_bin() { echo "$CACHE/victorialogs-$VICTORIALOGS_VERSION/victoria-logs"; }
telemetrygen_bin() { echo "$CACHE/telemetrygen-$TELEMETRYGEN_VERSION/telemetrygen"; }

install_jaeger() {
  local bin
  bin=$(jaeger_bin)
  [ -x "$bin" ] && { log "jaeger $JAEGER_MODULE_VERSION cached"; return; }
  log "building jaeger (module v$JAEGER_MODULE_VERSION)"
  mkdir -p "$(dirname "$bin")"
  build_from_module github.com/jaegertracing/jaeger "v$JAEGER_MODULE_VERSION" ./cmd/jaeger "$bin.tmp"
  mv "$bin.tmp" "$bin"
}

install_prometheus() {
  local dir
  dir=$(dirname "$(prometheus_bin)")
  [ -x "$(prometheus_bin)" ] && [ -x "$(promtool_bin)" ] && { log "prometheus $PROMETHEUS_VERSION cached"; return; }
  log "building prometheus $PROMETHEUS_VERSION ($PROMETHEUS_MODULE_VERSION)"
  mkdir -p "$dir"
  # remove_all_sd: one service-discovery dependency is refused by the proxy,
  # and the bench needs no service discovery.
  GOBIN="$dir" CGO_ENABLED=0 GOFLAGS= go install -trimpath -ldflags="-s -w" -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
}

install_victorialogs() {
  [ -x "$(victorialogs_bin)" ] && { log "victorialogs $VICTORIALOGS_VERSION cached"; return; }
  log "building victorialogs $VICTORIALOGS_VERSION"
  go_install_into "$(dirname "$(victorialogs_bin)")" \
    "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v$VICTORIALOGS_VERSION"
}

install_telemetrygen() {
  [ -x "$(telemetrygen_bin)" ] && { log "telemetrygen $TELEMETRYGEN_VERSION cached"; return; }
  log "building telemetrygen $TELEMETRYGEN_VERSION"
  go_install_into "$(dirname "$(telemetrygen_bin)")" \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$TELEMETRYGEN_VERSION"
}

# Debian's packages: Prometheus 2.42 (for the remote-write 1.0 path and the
# 2.0 fallback) and Alertmanager (for the baseline connector's alerts). Their
# own services must not start: we run them ourselves (see apt_install).
install_debian() { apt_install --no-start "${BACKEND_DEBIAN_PACKAGES[@]}"; }

# ---------------------------------------------------------------- running ---

pidfile() { echo "$RUN/$1/pid"; }

running() { # name
  local pf; pf=$(pidfile "$1")
  [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null
}

# http_ok url: the URL (http://host:port/path) answers 200. Bash's /dev/tcp
# rather than curl, which a fresh machine may not have.
http_ok() {
  local rest=${1#http://} hostport path status
  hostport=${rest%%/*}; path=/${rest#*/}
  [ "$hostport" = "$rest" ] && path=/
  # In a subshell: the connection (fd 3) and its errors stay there.
  status=$(
    exec 2>/dev/null 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
    IFS= read -r -t 2 line <&3 && printf '%s' "$line"
  )
  [[ $status == "HTTP/"*" 200"* ]]
}

wait_ready() { # name url [seconds]
  local name=$1 url=$2 limit=${3:-120} i
  for ((i = 0; i < limit * 4; i++)); do
    if http_ok "$url"; then log "$name ready ($url)"; return 0; fi
    if ! running "$name"; then
      log "$name exited before it was ready; last log lines:"; tail -n 30 "$RUN/$name/log" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  log "$name not ready after ${limit}s at $url; last log lines:"; tail -n 30 "$RUN/$name/log" >&2 || true
  return 1
}

launch() { # name cmd...
  local name=$1; shift
  running "$name" && { log "$name already running (pid $(cat "$(pidfile "$name")"))"; return 0; }
  mkdir -p "$RUN/$name"
  setsid "$@" >"$RUN/$name/log" 2>&1 < /dev/null &
  echo $! >"$(pidfile "$name")"
}

start_jaeger() {
  local d="$RUN/jaeger"; mkdir -p "$d"
  cat >"$d/config.yaml" <<YAML
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp, jaeger]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $JAEGER_METRICS_PORT
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: $JAEGER_HEALTH
  jaeger_query:
    storage:
      traces: memstore
    # Otherwise Jaeger traces its own queries to localhost:4317, into Vigil.
    enable_tracing: false
    http:
      endpoint: $JAEGER_QUERY
    grpc:
      endpoint: $JAEGER_QUERY_GRPC
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 200000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: $JAEGER_OTLP_GRPC
      http:
        endpoint: $JAEGER_OTLP_HTTP
  jaeger:
    protocols:
      grpc:
        endpoint: $JAEGER_GRPC
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
  launch jaeger "$(jaeger_bin)" --config "$d/config.yaml"
  wait_ready jaeger "http://$JAEGER_HEALTH/status"
}

start_prometheus() {
  local d="$RUN/prometheus"; mkdir -p "$d/data"
  cat >"$d/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['$PROMETHEUS_ADDR']
otlp:
  # Kernel metrics carry no service.*; their identity is the container.
  promote_resource_attributes: [service.instance.id, service.name, service.namespace, container.id, k8s.pod.uid,
    k8s.pod.name, k8s.namespace.name, k8s.node.name, vigil.netns.inode]
storage:
  exemplars:
    max_exemplars: 100000
YAML
  launch prometheus "$(prometheus_bin)" \
    --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --web.listen-address="$PROMETHEUS_ADDR" \
    --web.enable-remote-write-receiver --web.enable-otlp-receiver \
    --enable-feature=exemplar-storage,native-histograms \
    --log.level=warn
  wait_ready prometheus "http://$PROMETHEUS_ADDR/-/ready"
}

# prometheus3meta is a second Prometheus 3 (same binary) with the
# type-and-unit-labels feature: its remote-write 2.0 receiver turns each
# series' metadata into __type__ and __unit__ labels, the only place where
# remote-written metadata can be queried. On demand only: the labels would
# change every series the shared instance's tests assert exactly.
start_prometheus3meta() {
  local d="$RUN/prometheus3meta"; mkdir -p "$d/data"
  printf 'global:\n  scrape_interval: 15s\n' >"$d/prometheus.yml"
  launch prometheus3meta "$(prometheus_bin)" \
    --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --web.listen-address="$PROMETHEUS3META_ADDR" --web.enable-remote-write-receiver \
    --enable-feature=exemplar-storage,native-histograms,type-and-unit-labels \
    --log.level=warn
  wait_ready prometheus3meta "http://$PROMETHEUS3META_ADDR/-/ready"
}

# prometheus2 is Debian's Prometheus 2.42: remote-write 1.0 only.
start_prometheus2() {
  local d="$RUN/prometheus2"; mkdir -p "$d/data"
  printf 'global:\n  scrape_interval: 15s\n' >"$d/prometheus.yml"
  launch prometheus2 /usr/bin/prometheus \
    --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --web.listen-address="$PROMETHEUS2_ADDR" --web.enable-remote-write-receiver \
    --enable-feature=exemplar-storage,native-histograms --log.level=warn
  wait_ready prometheus2 "http://$PROMETHEUS2_ADDR/-/ready"
}

# victorialogs is the logs backend: Loki's push API at
# /insert/loki/api/v1/push, its own LogsQL query API at /select/logsql/*.
# -loki.disableMessageParsing: keep each pushed line whole in _msg, as Loki
#   stores it (by default VictoriaLogs splits JSON lines into fields); LogsQL
#   unpacks at query time (unpack_json), as LogQL's | json does.
# -retentionPeriod=100y: the tests may send records with old timestamps,
#   which the default retention (7 days) would drop.
start_victorialogs() {
  local d="$RUN/victorialogs"
  mkdir -p "$d/data"
  launch victorialogs "$(victorialogs_bin)" \
    -httpListenAddr="$VICTORIALOGS_ADDR" -storageDataPath="$d/data" \
    -loki.disableMessageParsing -retentionPeriod=100y -loggerLevel=WARN
  wait_ready victorialogs "http://$VICTORIALOGS_ADDR/health"
}

start_alertmanager() {
  local d="$RUN/alertmanager"; mkdir -p "$d/data"
  cat >"$d/alertmanager.yml" <<YAML
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
YAML
  launch alertmanager /usr/bin/prometheus-alertmanager \
    --config.file="$d/alertmanager.yml" --storage.path="$d/data" \
    --web.listen-address="$ALERTMANAGER_ADDR" --cluster.listen-address= --log.level=warn
  wait_ready alertmanager "http://$ALERTMANAGER_ADDR/-/ready"
}

stop_one() { # name
  local name=$1 pf pid i
  pf=$(pidfile "$name")
  [ -f "$pf" ] || return 0
  pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    log "$name stopped (pid $pid)"
  fi
  rm -f "$pf"
}

cmd=${1:-}
shift || true
case "$cmd" in
  install)
    steps=("$@")
    [ ${#steps[@]} -gt 0 ] || steps=("${BACKEND_STEPS[@]}")
    run_steps "${steps[@]}" ;;
  start)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${BACKEND_DEFAULT_SERVICES[@]}")
    for n in "${names[@]}"; do "start_$n"; done ;;
  stop)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${BACKEND_SERVICES[@]}")
    for n in "${names[@]}"; do stop_one "$n"; done ;;
  clean)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${BACKEND_SERVICES[@]}")
    for n in "${names[@]}"; do stop_one "$n"; rm -rf "${RUN:?}/$n"; done ;;
  status)
    for n in "${BACKEND_SERVICES[@]}"; do
      if running "$n"; then echo "$n running pid $(cat "$(pidfile "$n")")"; else echo "$n stopped"; fi
    done ;;
  env) # paths and addresses for scripts and tests: eval "$(scripts/backends.sh env)"
    echo "export VIGIL_JAEGER_BIN=$(jaeger_bin) VIGIL_PROMETHEUS_BIN=$(prometheus_bin) VIGIL_PROMTOOL_BIN=$(promtool_bin)"
    echo "export VIGIL_VICTORIALOGS_BIN=$(victorialogs_bin) VIGIL_TELEMETRYGEN_BIN=$(telemetrygen_bin)"
    echo "export VIGIL_VICTORIALOGS_ADDR=$VICTORIALOGS_ADDR"
    echo "export VIGIL_BACKENDS_SCRIPT=$HERE/backends.sh" ;;
  *) echo "usage: $0 install [${BACKEND_STEPS[*]}] | start|stop|clean [${BACKEND_SERVICES[*]}] | status | env" >&2; exit 2 ;;
esac
