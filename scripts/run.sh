#!/usr/bin/env bash
# Copyright The Vigil Authors
# SPDX-License-Identifier: Apache-2.0
# run.sh (also `make run`) installs (once; cached under ~/.cache/vigil) and
# starts Jaeger, Prometheus and VictoriaLogs (the logs backend, which
# implements Loki's push API) on 127.0.0.1, builds vigil and runs it in the
# foreground with its embedded default configuration, its loki exporter
# pointed at VictoriaLogs's push endpoint. Ctrl-C stops vigil;
# `bash scripts/backends.sh clean` stops the backends.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/backends.sh install jaeger prometheus victorialogs telemetrygen
bash scripts/backends.sh start jaeger prometheus victorialogs
bash scripts/build.sh
eval "$(bash scripts/backends.sh env)"
export VIGIL_LOKI_ENDPOINT=${VIGIL_LOKI_ENDPOINT:-http://$VIGIL_VICTORIALOGS_ADDR/insert/loki/api/v1/push}
cat <<MSG

Vigil is starting with its default configuration (bin/vigil print-default-config).
  Send OTLP to      grpc 127.0.0.1:4317, http://127.0.0.1:4318
  Try it            $VIGIL_TELEMETRYGEN_BIN traces --otlp-insecure --traces 10
                    $VIGIL_TELEMETRYGEN_BIN logs --otlp-insecure --logs 10
  Traces (Jaeger)   http://127.0.0.1:16686/api/traces?service=telemetrygen
  Metrics (Prom)    http://127.0.0.1:9090/graph
  Logs (Loki push API, stored by VictoriaLogs: $VIGIL_LOKI_ENDPOINT)
                    http://$VIGIL_VICTORIALOGS_ADDR/select/vmui/
                    http://$VIGIL_VICTORIALOGS_ADDR/select/logsql/query?query=service_name:telemetrygen
  Vigil health      http://127.0.0.1:13133/   self-metrics http://127.0.0.1:8888/metrics
  Stop backends     bash scripts/backends.sh clean

MSG
exec ./bin/vigil
