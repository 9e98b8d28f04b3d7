#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh measures pod-log lines per CPU-second from file to the logs backend:
# vigil (filelog → loki/pods, Loki's push API) against the bench peer, the
# upstream collector built by bench/peer/build.sh (contrib's filelog →
# otlp_http, VictoriaLogs's OTLP endpoint). Both read the same files, written
# once beforehand in the kubelet's layout and CRI format, with the same
# filelog settings (those of vigil's default config: container parser, level
# parser, offsets in file_storage) and default in-memory sending queues that
# block when full. Each run gets a fresh private VictoriaLogs
# (127.0.0.1:9438, so the e2e backends are not touched); the collector's CPU
# time (utime+stime from /proc) is read once VictoriaLogs holds every line.
# Runs alternate vigil, peer, vigil, peer, ...
# Usage: bash bench/podlogs/run.sh [lines_per_pod] [pods] [reps]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
per=${1:-200000}; pods=${2:-4}; reps=${3:-3}; total=$((per * pods))
bash "$root/scripts/backends.sh" install victorialogs >&2
eval "$("$root/scripts/backends.sh" env)"
peer=$(bash "$root/bench/peer/build.sh")
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
echo "work dir: $work" >&2
logs=127.0.0.1:9438
go build -o "$work/vigil" "$root/cmd/gateway"

# The files: pods × per lines of ~130 bytes, a level in three of four.
python3 - "$work/pods" "$per" "$pods" <<'PY'
import os, sys, datetime
d, per, pods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = datetime.datetime(2026, 12, 4, 12, 0, 0, tzinfo=datetime.timezone.utc)
lv = ["level=info ", "level=error ", "level=warn ", ""]
for p in range(pods):
    c = os.path.join(d, f"bench_pod-{p}_0000000{p}-0000-4000-8000-000000000000", "app")
    os.makedirs(c)
    with open(os.path.join(c, "0.log"), "w") as f:
        for i in range(per):
            ts = (t0 + datetime.timedelta(microseconds=i * 100)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            f.write(f'{ts} stdout F {lv[i % 4]}msg="GET /api/v1/orders completed" duration_ms={i % 97} status=200 pod={p} seq={i}\n')
PY
du -sh "$work/pods" >&2

receiver() { cat <<YAML
  file_log/pods:
    include: [$work/pods/*/*/*.log*]
    exclude: [$work/pods/*/*/*.gz, $work/pods/*/*/*.tmp]
    start_at: beginning
    include_file_path: true
    include_file_name: false
    storage: file_storage
    retry_on_failure: {enabled: true, max_elapsed_time: 0s}
    operators:
      - type: container
      - type: regex_parser
        id: level
        regex: '(?i)\\b(?:level|lvl|severity)"?\\s*[:=]\\s*"?(?P<level>trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|panic)\\b'
        on_error: send_quiet
        severity:
          parse_from: attributes.level
          overwrite_text: true
          mapping: {info: notice, fatal: [critical, crit, panic]}
      - type: retain
        fields: ['attributes["log.iostream"]']
YAML
}
count() {
  curl -fsG http://$logs/select/logsql/query --data-urlencode "query=* | stats count() as n" \
    | python3 -c 'import json,sys; print(int(json.loads(sys.stdin.read() or "{}").get("n", 0)))'
}

for ((rep = 1; rep <= reps; rep++)); do
  for who in vigil peer; do
    rm -rf "$work/vl" "$work/state" && mkdir -p "$work/state"
    "$VIGIL_VICTORIALOGS_BIN" -httpListenAddr=$logs -storageDataPath="$work/vl" \
      -loki.disableMessageParsing -retentionPeriod=100y -loggerLevel=WARN >"$work/victorialogs.log" 2>&1 &
    vl=$!
    until curl -fs http://$logs/health >/dev/null 2>&1; do sleep 0.5; done
    if [ $who = vigil ]; then
      bin=$work/vigil
      exp="loki/pods:
    endpoint: http://$logs/insert/loki/api/v1/push
    labels:
      resource_attributes:
        - {attribute: k8s.namespace.name, label: namespace}
        - {attribute: k8s.pod.name, label: pod}
        - {attribute: k8s.container.name, label: container}
      severity: level
    sending_queue: {block_on_overflow: true}"; name=loki/pods
    else
      bin=$peer
      exp="otlp_http/logs:
    logs_endpoint: http://$logs/insert/opentelemetry/v1/logs
    sending_queue: {block_on_overflow: true}"; name=otlp_http/logs
    fi
    cat >"$work/$who.yaml" <<YAML
extensions:
  file_storage: {directory: $work/state}
receivers:
$(receiver)
exporters:
  $exp
service:
  extensions: [file_storage]
  telemetry: {metrics: {level: none}}
  pipelines: {logs: {receivers: [file_log/pods], exporters: [$name]}}
YAML
    start=$(date +%s.%N)
    "$bin" --config "$work/$who.yaml" >"$work/$who.log" 2>&1 &
    pid=$!
    for ((i = 0; i < 600; i++)); do [ "$(count)" -ge "$total" ] && break; sleep 1; done
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    read -r ut st < <(awk '{print $14, $15}' /proc/$pid/stat)
    cpu=$(echo "scale=3; ($ut + $st) / $(getconf CLK_TCK)" | bc)
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    echo "rep=$rep $who: lines=$total in_backend=$(count) wall_s=$wall cpu_s=$cpu lines_per_cpu_s=$(echo "$total / $cpu" | bc) peak_rss_mib=$((hwm / 1024)) load=$(cut -d' ' -f1 /proc/loadavg)"
    kill -TERM $pid; wait $pid 2>/dev/null || true
    kill -TERM $vl; wait $vl 2>/dev/null || true
  done
done
