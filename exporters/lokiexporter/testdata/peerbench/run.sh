#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh compares the loki exporter with the peer path (OTLP through the
# otlphttp exporter): the same telemetrygen load goes through vigil into a
# private VictoriaLogs (127.0.0.1:9438, so the e2e backends are not touched),
# once through its Loki push API (/insert/loki/api/v1/push, what the loki
# exporter speaks) and once through its OTLP endpoint; it reports vigil's CPU
# seconds and peak RSS once VictoriaLogs holds every record. (Loki itself is
# AGPL-licensed and is not built here.)
# Both exporters run with their defaults plus block_on_overflow, so the
# receiver applies back-pressure instead of refusing data.
# Usage: bash exporters/lokiexporter/testdata/peerbench/run.sh [records_per_worker] [workers]
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
per=${1:-100000}; workers=${2:-2}; total=$((per * workers))
bash "$root/scripts/backends.sh" install victorialogs telemetrygen >&2
eval "$("$root/scripts/backends.sh" env)"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
echo "work dir: $work" >&2
logs=127.0.0.1:9438

"$VIGIL_VICTORIALOGS_BIN" -httpListenAddr=$logs -storageDataPath="$work/victorialogs" \
  -loki.disableMessageParsing -retentionPeriod=100y -loggerLevel=WARN >"$work/victorialogs.log" 2>&1 &
until curl -fs http://$logs/health >/dev/null 2>&1; do sleep 1; done

go build -o "$work/vigil" "$root/cmd/gateway"

count() { # LogsQL stream filter
  curl -fsG http://$logs/select/logsql/query --data-urlencode "query=$1 | stats count() as n" \
    | python3 -c 'import json,sys; print(int(json.loads(sys.stdin.read() or "{}").get("n", 0)))'
}

for mode in loki otlp; do
  svc="peer-$mode-$RANDOM"
  if [ "$mode" = loki ]; then
    exp="loki: {endpoint: \"http://$logs/insert/loki/api/v1/push\", sending_queue: {block_on_overflow: true}}"; name=loki
  else
    exp="otlphttp/logs: {logs_endpoint: \"http://$logs/insert/opentelemetry/v1/logs\", sending_queue: {block_on_overflow: true}}"; name=otlphttp/logs
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
  # The loki exporter's label is service_name; VictoriaLogs's OTLP endpoint
  # keeps the resource attribute's own name.
  if [ "$mode" = loki ]; then sel="service_name:=\"$svc\""; else sel="\"service.name\":=\"$svc\""; fi
  # Both exporters block on a full queue (back-pressure), so nothing is lost;
  # give up after 2 minutes and say how far it got.
  for ((i = 0; i < 120; i++)); do [ "$(count "$sel")" -ge "$total" ] && break; sleep 1; done
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
  tck=$(getconf CLK_TCK)
  cpu=$(echo "scale=3; ($ut + $st) / $tck" | bc)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  echo "$mode: records=$total in_backend=$(count "$sel") wall_s=$wall vigil_cpu_s=$cpu records_per_cpu_s=$(echo "$total / $cpu" | bc) peak_rss_mib=$((hwm / 1024))"
  kill -TERM $pid; wait $pid 2>/dev/null || true
done
