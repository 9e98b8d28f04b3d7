#!/usr/bin/env bash
# run.sh (also `make run`) installs (once; cached under ~/.cache/vigil) and
# starts Jaeger, Prometheus and Loki on 127.0.0.1, builds vigil and runs it in
# the foreground with its embedded default configuration. Ctrl-C stops vigil;
# `bash scripts/backends.sh clean` stops the backends.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/backends.sh install jaeger prometheus loki telemetrygen
bash scripts/backends.sh start jaeger prometheus loki
bash scripts/build.sh
cat <<MSG

Vigil is starting with its default configuration (bin/vigil print-default-config).
  Send OTLP to      grpc 127.0.0.1:4317, http://127.0.0.1:4318
  Try it            $(bash scripts/backends.sh env | sed -n 's/.*VIGIL_TELEMETRYGEN_BIN=\([^ ]*\).*/\1/p') traces --otlp-insecure --traces 10
  Traces (Jaeger)   http://127.0.0.1:16686/api/traces?service=telemetrygen
  Metrics (Prom)    http://127.0.0.1:9090/graph
  Logs (Loki)       http://127.0.0.1:3100/loki/api/v1/query_range?query={service_name="telemetrygen"}
  Vigil health      http://127.0.0.1:13133/   self-metrics http://127.0.0.1:8888/metrics
  Stop backends     bash scripts/backends.sh clean

MSG
exec ./bin/vigil
