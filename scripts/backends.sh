#!/usr/bin/env bash
# backends.sh installs, starts and stops the real backends Vigil's bench and
# end-to-end tests talk to: Jaeger v2, Prometheus 3 (and on demand a second
# one, prometheus3meta, with type-and-unit labels), Loki 3, plus the
# telemetrygen load generator, the upstream collector builder (for the peer)
# and, from Debian, Prometheus 2.42 and Alertmanager.
#
# Everything is built from the Go module proxy into a cache outside the work
# tree, keyed by name and version, so a second install takes seconds:
#   ${VIGIL_CACHE:-$HOME/.cache/vigil}/<name>-<version>/
# Running state (configs, data, logs, PIDs) lives under
#   ${VIGIL_RUN:-/tmp/vigil-bench}/<name>/
# `stop` keeps the data (an outage test stops and restarts a backend);
# `clean` stops and throws it away. Every listener binds 127.0.0.1.
#
# Usage: scripts/backends.sh install|start|stop|clean|status|env [name...]
set -euo pipefail

JAEGER_VERSION=2.13.0          # module github.com/jaegertracing/jaeger@v1.76.0
JAEGER_MODULE_VERSION=v1.76.0
PROMETHEUS_VERSION=3.16.0      # module github.com/prometheus/prometheus@v0.316.0
PROMETHEUS_MODULE_VERSION=v0.316.0
LOKI_VERSION=3.7.8
TELEMETRYGEN_VERSION=0.161.0
OCB_VERSION=0.162.0            # the collector builder, for the bench peer
# mdatagen v0.160.0 and later import modules whose zips the module proxy
# refuses (internal/schemagen), so v0.159.0 is the newest that builds here.
MDATAGEN_VERSION=0.159.0

CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}
RUN=${VIGIL_RUN:-/tmp/vigil-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

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
LOKI_HTTP_PORT=${LOKI_HTTP_PORT:-3100}
LOKI_GRPC_PORT=${LOKI_GRPC_PORT:-9096}
ALERTMANAGER_ADDR=${ALERTMANAGER_ADDR:-127.0.0.1:9093}

log() { printf '%s backends: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

jaeger_bin()       { echo "$CACHE/jaeger-$JAEGER_VERSION/jaeger"; }
prometheus_bin()   { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/prometheus"; }
promtool_bin()     { echo "$CACHE/prometheus-$PROMETHEUS_VERSION/promtool"; }
loki_bin()         { echo "$CACHE/loki-$LOKI_VERSION/loki"; }
telemetrygen_bin() { echo "$CACHE/telemetrygen-$TELEMETRYGEN_VERSION/telemetrygen"; }
ocb_bin()          { echo "$CACHE/ocb-$OCB_VERSION/builder"; }
mdatagen_bin()     { echo "$CACHE/mdatagen-$MDATAGEN_VERSION/mdatagen"; }

# build_from_module copies a module out of the (read-only) module cache into a
# writable directory, so that replace directives the proxy cannot satisfy can
# be dropped, and builds one command from it.
build_from_module() { # module version pkg out [go-mod-edit-args...]
  local module=$1 version=$2 pkg=$3 out=$4; shift 4
  local src work
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || die "go mod download $module@$version gave no directory"
  work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-build.XXXXXX")
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  if [ $# -gt 0 ]; then (cd "$work" && go mod edit "$@"); fi
  (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$out" "$pkg")
  rm -rf "$work"
}

install_jaeger() {
  local bin; bin=$(jaeger_bin)
  [ -x "$bin" ] && { log "jaeger $JAEGER_VERSION cached"; return; }
  log "building jaeger $JAEGER_VERSION ($JAEGER_MODULE_VERSION)"
  mkdir -p "$(dirname "$bin")"
  build_from_module github.com/jaegertracing/jaeger "$JAEGER_MODULE_VERSION" ./cmd/jaeger "$bin.tmp"
  mv "$bin.tmp" "$bin"
}

install_prometheus() {
  local dir="$CACHE/prometheus-$PROMETHEUS_VERSION"
  [ -x "$dir/prometheus" ] && [ -x "$dir/promtool" ] && { log "prometheus $PROMETHEUS_VERSION cached"; return; }
  log "building prometheus $PROMETHEUS_VERSION ($PROMETHEUS_MODULE_VERSION)"
  mkdir -p "$dir"
  # remove_all_sd: one service-discovery dependency is refused by the proxy,
  # and the bench needs no service discovery.
  GOBIN="$dir" CGO_ENABLED=0 go install -trimpath -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_MODULE_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION"
}

install_loki() {
  local bin; bin=$(loki_bin)
  [ -x "$bin" ] && { log "loki $LOKI_VERSION cached"; return; }
  log "building loki $LOKI_VERSION"
  mkdir -p "$(dirname "$bin")"
  # Loki replaces pkg/push with a nested module the zip lacks; the proxy
  # serves the version its go.mod requires, so drop the replace.
  build_from_module github.com/grafana/loki/v3 "v$LOKI_VERSION" ./cmd/loki "$bin.tmp" \
    -dropreplace=github.com/grafana/loki/pkg/push
  mv "$bin.tmp" "$bin"
}

install_telemetrygen() {
  local dir="$CACHE/telemetrygen-$TELEMETRYGEN_VERSION"
  [ -x "$dir/telemetrygen" ] && { log "telemetrygen $TELEMETRYGEN_VERSION cached"; return; }
  log "building telemetrygen $TELEMETRYGEN_VERSION"
  mkdir -p "$dir"
  GOBIN="$dir" CGO_ENABLED=0 go install -trimpath \
    "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$TELEMETRYGEN_VERSION"
}

install_ocb() {
  local dir="$CACHE/ocb-$OCB_VERSION"
  [ -x "$dir/builder" ] && { log "ocb $OCB_VERSION cached"; return; }
  log "building ocb $OCB_VERSION"
  mkdir -p "$dir"
  GOBIN="$dir" CGO_ENABLED=0 go install -trimpath "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION"
}

install_mdatagen() {
  local bin; bin=$(mdatagen_bin)
  [ -x "$bin" ] && { log "mdatagen $MDATAGEN_VERSION cached"; return; }
  log "building mdatagen $MDATAGEN_VERSION"
  mkdir -p "$(dirname "$bin")"
  # Its go.mod replaces every collector module with a sibling directory of
  # the collector repository, which the module zip lacks: drop them all.
  local src drops=()
  src=$(go mod download -json "go.opentelemetry.io/collector/cmd/mdatagen@v$MDATAGEN_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  while read -r old; do drops+=("-dropreplace=$old"); done < <(sed -n 's/^\(replace\)\{0,1\}[[:space:]]*\([^ ]*\) => \.\..*/\2/p' "$src/go.mod")
  build_from_module go.opentelemetry.io/collector/cmd/mdatagen "v$MDATAGEN_VERSION" . "$bin.tmp" "${drops[@]}"
  mv "$bin.tmp" "$bin"
}

# Debian's packages: Prometheus 2.42 (for the remote-write 1.0 path and the
# 2.0 fallback) and Alertmanager (for the baseline connector's alerts).
install_debian() {
  if command -v /usr/bin/prometheus >/dev/null && command -v /usr/bin/prometheus-alertmanager >/dev/null; then
    log "debian prometheus and alertmanager present"; return
  fi
  log "installing Debian prometheus and prometheus-alertmanager"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # The packages' own services must not start: we run them ourselves.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

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

start_loki() {
  local d="$RUN/loki"; mkdir -p "$d/data"
  cat >"$d/config.yaml" <<YAML
auth_enabled: false
analytics:
  reporting_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: $LOKI_HTTP_PORT
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: $LOKI_GRPC_PORT
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: $d/data
  storage:
    filesystem:
      chunks_directory: $d/data/chunks
      rules_directory: $d/data/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
frontend:
  scheduler_dns_lookup_period: 1s
frontend_worker:
  dns_lookup_duration: 1s
query_range:
  results_cache:
    cache:
      embedded_cache:
        enabled: true
        max_size_mb: 50
schema_config:
  configs:
    - from: 2024-01-01
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  allow_structured_metadata: true
  volume_enabled: true
  reject_old_samples: false
  ingestion_rate_mb: 64
  ingestion_burst_size_mb: 128
  per_stream_rate_limit: 64MB
  per_stream_rate_limit_burst: 128MB
  max_entries_limit_per_query: 100000
ruler:
  alertmanager_url: http://$ALERTMANAGER_ADDR
YAML
  launch loki "$(loki_bin)" -config.file="$d/config.yaml"
  wait_ready loki "http://127.0.0.1:$LOKI_HTTP_PORT/ready" 180
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

ALL_INSTALL=(jaeger prometheus loki telemetrygen ocb mdatagen debian)
ALL_START=(jaeger prometheus loki)

cmd=${1:-}; shift || true
case "$cmd" in
  install)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL_INSTALL[@]}")
    mkdir -p "$CACHE"
    for n in "${names[@]}"; do
      # One build of a thing at a time on this machine: a second install
      # waits for the first and then finds it cached.
      exec {lock}>"$CACHE/.install-$n.lock"
      flock "$lock"
      t0=$(date +%s); "install_$n"; log "install $n took $(( $(date +%s) - t0 ))s"
      exec {lock}>&-
    done ;;
  start)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL_START[@]}")
    for n in "${names[@]}"; do "start_$n"; done ;;
  stop)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=(jaeger prometheus prometheus3meta prometheus2 loki alertmanager)
    for n in "${names[@]}"; do stop_one "$n"; done ;;
  clean)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=(jaeger prometheus prometheus3meta prometheus2 loki alertmanager)
    for n in "${names[@]}"; do stop_one "$n"; rm -rf "${RUN:?}/$n"; done ;;
  status)
    for n in jaeger prometheus prometheus3meta prometheus2 loki alertmanager; do
      if running "$n"; then echo "$n running pid $(cat "$(pidfile "$n")")"; else echo "$n stopped"; fi
    done ;;
  env) # paths for scripts and tests: eval "$(scripts/backends.sh env)"
    echo "export VIGIL_JAEGER_BIN=$(jaeger_bin) VIGIL_PROMETHEUS_BIN=$(prometheus_bin) VIGIL_PROMTOOL_BIN=$(promtool_bin)"
    echo "export VIGIL_LOKI_BIN=$(loki_bin) VIGIL_TELEMETRYGEN_BIN=$(telemetrygen_bin) VIGIL_OCB_BIN=$(ocb_bin) VIGIL_MDATAGEN_BIN=$(mdatagen_bin)"
    echo "export VIGIL_BACKENDS_SCRIPT=$HERE/backends.sh" ;;
  *) echo "usage: $0 install|start|stop|clean|status|env [name...]" >&2; exit 2 ;;
esac
