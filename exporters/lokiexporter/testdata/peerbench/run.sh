#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh compares the loki exporter with the peer path (Loki's native OTLP
# endpoint through the otlphttp exporter): the same telemetrygen load goes
# through vigil into a private Loki (127.0.0.1:3110, so the e2e backends on
# 3100 are not touched); it reports vigil's CPU seconds and peak RSS once
# Loki holds every record.
# Both exporters run with their defaults plus block_on_overflow, so the
# receiver applies back-pressure instead of refusing data.
# Usage: bash exporters/lokiexporter/testdata/peerbench/run.sh [records_per_worker] [workers]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
per=${1:-100000}; workers=${2:-2}; total=$((per * workers))
eval "$("$root/scripts/backends.sh" env)"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
echo "work dir: $work" >&2

cat >"$work/loki.yaml" <<YAML
auth_enabled: false
analytics: {reporting_enabled: false}
server: {http_listen_address: 127.0.0.1, http_listen_port: 3110, grpc_listen_address: 127.0.0.1, grpc_listen_port: 9106, log_level: warn}
common:
  instance_addr: 127.0.0.1
  path_prefix: $work/loki
  storage: {filesystem: {chunks_directory: $work/loki/chunks, rules_directory: $work/loki/rules}}
  replication_factor: 1
  ring: {kvstore: {store: inmemory}}
schema_config:
  configs: [{from: 2024-01-01, store: tsdb, object_store: filesystem, schema: v13, index: {prefix: index_, period: 24h}}]
limits_config: {allow_structured_metadata: true, reject_old_samples: false, ingestion_rate_mb: 256, ingestion_burst_size_mb: 512, per_stream_rate_limit: 256MB, per_stream_rate_limit_burst: 512MB}
YAML
"$VIGIL_LOKI_BIN" -config.file="$work/loki.yaml" >"$work/loki.log" 2>&1 &
until curl -fs http://127.0.0.1:3110/ready >/dev/null 2>&1; do sleep 1; done

go build -o "$work/vigil" "$root/cmd/gateway"

count() { # selector
  curl -fsG http://127.0.0.1:3110/loki/api/v1/query --data-urlencode "query=sum(count_over_time($1[1h]))" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)'
}

for mode in loki otlp; do
  svc="peer-$mode-$RANDOM"
  if [ "$mode" = loki ]; then
    exp='loki: {endpoint: "http://127.0.0.1:3110/loki/api/v1/push", sending_queue: {block_on_overflow: true}}'; name=loki
  else
    exp='otlphttp/loki: {logs_endpoint: "http://127.0.0.1:3110/otlp/v1/logs", sending_queue: {block_on_overflow: true}}'; name=otlphttp/loki
  fi
  cat >"$work/$mode.yaml" <<YAML
receivers: {otlp: {protocols: {grpc: {endpoint: 127.0.0.1:14317}}}}
exporters: {$exp}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {logs: {receivers: [otlp], exporters: [$name]}}
YAML
  "$work/vigil" --config "$work/$mode.yaml" >"$work/vigil-$mode.log" 2>&1 &
  pid=$!
  until (exec 3<>/dev/tcp/127.0.0.1/14317) 2>/dev/null; do sleep 0.2; done
  start=$(date +%s.%N)
  "$VIGIL_TELEMETRYGEN_BIN" logs --otlp-endpoint 127.0.0.1:14317 --otlp-insecure --rate 0 \
    --workers "$workers" --logs "$per" --service "$svc" --body "GET /api/v1/orders completed in 12ms status 200" \
    --telemetry-attributes 'http.method="GET"' >/dev/null 2>&1
  sel="{service_name=\"$svc\"}"
  # Both exporters block on a full queue (back-pressure), so nothing is lost;
  # give up after 2 minutes and say how far it got.
  for ((i = 0; i < 120; i++)); do [ "$(count "$sel")" -ge "$total" ] && break; sleep 1; done
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
  tck=$(getconf CLK_TCK)
  cpu=$(echo "scale=3; ($ut + $st) / $tck" | bc)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  echo "$mode: records=$total in_loki=$(count "$sel") wall_s=$wall vigil_cpu_s=$cpu records_per_cpu_s=$(echo "$total / $cpu" | bc) peak_rss_mib=$((hwm / 1024))"
  kill -TERM $pid; wait $pid 2>/dev/null || true
done
