{{/*
vigil.exportersBackend: exporters that write to the backends, shared by the
agent (no gateway) and the gateway.
*/}}
{{- define "vigil.exportersBackend" -}}
jaeger:
  endpoint: {{ .Values.backends.jaeger.endpoint | quote }}
  tls:
    insecure: {{ .Values.backends.jaeger.insecure }}
  sending_queue:
    storage: file_storage/queue
prometheusremotewrite:
  endpoint: {{ .Values.backends.prometheus.endpoint | quote }}
  protocol: {{ .Values.backends.prometheus.protocol | quote }}
  # Pod, namespace, node and workload names become labels, so the
  # dashboards can filter kernel and span metrics by them.
  resource_to_telemetry_conversion:
    enabled: true
  sending_queue:
    storage: file_storage/queue
loki:
  endpoint: {{ .Values.backends.loki.endpoint | quote }}
  # The anomalies dashboard filters alert records on these (trace_id and
  # span_id are always structured metadata).
  structured_metadata:
    attributes: [alert.rule, alert.state, alert.fingerprint, metric.name]
  sending_queue:
    storage: file_storage/queue
{{- end -}}

{{/* vigil.agentConfig renders the agent's collector configuration. */}}
{{- define "vigil.agentConfig" -}}
{{- if not (has .Values.gateway.resolver (list "dns" "kubernetes")) }}
{{- fail (printf "gateway.resolver must be dns or kubernetes, not %q" .Values.gateway.resolver) }}
{{- end }}
{{- $gw := .Values.gateway.enabled -}}
{{- $kernel := .Values.agent.kernel.enabled -}}
{{- $cgroup := .Values.agent.cgroup.enabled -}}
{{- $podLogs := .Values.agent.podLogs.enabled -}}
{{- $ewma := and $kernel .Values.agent.ewmaBaseline.enabled -}}
{{- $k8s := .Values.k8sAttributes.enabled -}}
{{- $spans := .Values.spanMetrics.enabled -}}
{{- $scrape := .Values.agent.prometheusScrape.enabled -}}
{{- $hopToken := include "vigil.hopToken" . -}}
{{- $hopTLS := include "vigil.hopTLS" . -}}
extensions:
  health_check:
    endpoint: ${env:K8S_POD_IP}:{{ .Values.healthCheck.port }}
  file_storage/queue:
    directory: /var/lib/vigil/queue
    create_directory: true
    compaction:
      on_rebound: true
      directory: /var/lib/vigil/queue
      cleanup_on_start: true
{{- if $hopToken }}
  bearertokenauth/hop:
    token: ${env:VIGIL_HOP_TOKEN}
{{- end }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:K8S_POD_IP}:{{ .Values.agent.otlp.grpcPort }}
      http:
        endpoint: ${env:K8S_POD_IP}:{{ .Values.agent.otlp.httpPort }}
{{- if $kernel }}
  kernel:
    collection_interval: {{ .Values.agent.kernel.collectionInterval }}
    # No cgroup_root: the receiver finds the cgroup v2 mount in its
    # mountinfo, /sys/fs/cgroup on unified hosts and /sys/fs/cgroup/unified
    # on hybrid ones (the hostPath mount carries its submounts). Naming
    # /sys/fs/cgroup would point it at the v1 tmpfs on hybrid hosts, where
    # no path resolves.
{{- end }}
{{- if $cgroup }}
  cgroup:
    collection_interval: {{ .Values.agent.cgroup.collectionInterval }}
    cgroup_root: /sys/fs/cgroup
    scope: {{ .Values.agent.cgroup.scope }}
{{- end }}
{{- if $podLogs }}
{{- $dir := .Values.agent.podLogs.path | trimSuffix "/" }}
  # Pod logs (see cmd/gateway/default-config.yaml for each choice).
  file_log/pods:
    include: [{{ printf "%s/*/*/*.log*" $dir | quote }}]
    exclude:
      - {{ printf "%s/*/*/*.gz" $dir | quote }}
      - {{ printf "%s/*/*/*.tmp" $dir | quote }}
      # The agent's own log.
      - {{ printf "%s/${env:K8S_NAMESPACE}_${env:K8S_POD_NAME}_*/*/*" $dir | quote }}
    start_at: {{ .Values.agent.podLogs.startAt }}
    include_file_path: true
    include_file_name: false
    storage: file_storage/queue
    retry_on_failure:
      enabled: true
      max_elapsed_time: 0s
    operators:
      - type: container
      # Docker json-file lines over 16 KiB: parts joined per file and
      # stream, trailing newline dropped.
      - type: add
        id: docker_source
        if: 'attributes.logtag == nil and attributes["log.iostream"] != nil'
        field: attributes.docker_source
        value: 'EXPR(attributes["log.file.path"] + " " + attributes["log.iostream"])'
      - type: recombine
        id: docker_partial
        if: 'attributes.docker_source != nil'
        source_identifier: attributes.docker_source
        is_last_entry: 'body endsWith "\n"'
        combine_field: body
        combine_with: ""
        max_log_size: 1MiB
      - type: add
        id: docker_newline
        if: 'attributes.docker_source != nil and body endsWith "\n"'
        field: body
        value: 'EXPR(trimSuffix(body, "\n"))'
      - type: regex_parser
        id: level
        regex: '(?i)\b(?:level|lvl|severity)"?\s*[:=]\s*"?(?P<level>trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|panic)\b'
        on_error: send_quiet
        severity:
          parse_from: attributes.level
          overwrite_text: true
          mapping: {info: notice, fatal: [critical, crit, panic]}
      - type: retain
        fields: ['attributes["log.iostream"]']
{{- end }}
{{- if $scrape }}
{{ include "vigil.scrapeReceiver" . | indent 2 }}
{{- end }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
{{- if $k8s }}
  k8s_attributes:
    auth_type: serviceAccount
    # Watch only the pods of this node (downward API, see the DaemonSet).
    filter:
      node_from_env_var: K8S_NODE_NAME
    extract:
      metadata:
        - k8s.namespace.name
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.node.name
        - k8s.deployment.name
        - k8s.statefulset.name
        - k8s.daemonset.name
        - k8s.job.name
        - k8s.cronjob.name
        - k8s.container.name
    pod_association:
      # Kernel metrics carry the pod UID parsed from the cgroup path.
      - sources:
          - from: resource_attribute
            name: k8s.pod.uid
      - sources:
          - from: resource_attribute
            name: k8s.pod.ip
      - sources:
          - from: connection
{{- end }}
  batch: {}
{{- if or $spans $ewma }}
connectors:
{{- if $spans }}
  span_metrics:
    histogram:
      unit: ms
    exemplars:
      enabled: true
    dimensions:
      - name: http.response.status_code
{{- end }}
{{- if $ewma }}
  # The connector's defaults, untuned (see its README, "Detection quality").
  ewma_baseline:
    rules:
      - name: tcp_retransmits
        metric: kernel.tcp.retransmitted_segments
        value: counter_rate
      - name: tcp_connect_failures
        metric: kernel.tcp.connect.failures
        value: counter_rate
{{- end }}
{{- end }}
exporters:
{{- if $podLogs }}
  # Pod logs go from each agent straight to the logs backend, also with a
  # gateway: they need no cross-node routing. One stream per namespace,
  # pod, container and level; every other attribute is structured metadata.
  loki/pods:
    endpoint: {{ .Values.backends.loki.endpoint | quote }}
    labels:
      resource_attributes:
        - {attribute: k8s.namespace.name, label: namespace}
        - {attribute: k8s.pod.name, label: pod}
        - {attribute: k8s.container.name, label: container}
      severity: level
    sending_queue:
      storage: file_storage/queue
{{- end }}
{{- if $gw }}
{{- $target := printf "%s.%s.svc" (include "vigil.gatewayHeadless" .) .Release.Namespace }}
{{- range $signal, $key := dict "traces" "traceID" "metrics" "streamID" "logs" "service" }}
  load_balancing/{{ $signal }}:
    routing_key: {{ $key }}
    # The durable queue and the retries live here, on the load_balancing
    # exporter, and not under protocol.otlp: the exporter makes one otlp
    # exporter per gateway endpoint, all with the same component ID
    # (otlp/{{ $signal }}), so a storage there would give every endpoint the
    # same file_storage file; the second endpoint's exporter then waits for
    # the first one's bbolt file lock and fails to start ("timeout"), and
    # every batch with data for that endpoint is refused. A retry here also
    # routes again: data for a gateway whose endpoint went away goes to the
    # gateway that owns its key now.
    sending_queue:
      storage: file_storage/queue
    retry_on_failure:
      enabled: true
      initial_interval: 5s
      randomization_factor: 0.5
      multiplier: 1.5
      max_interval: 30s
      max_elapsed_time: 300s
    protocol:
      otlp:
        tls:
{{- if $hopTLS }}
          ca_file: /etc/vigil/tls/ca.crt
          # The resolver yields pod IPs: verify the gateway's service name.
          server_name_override: {{ include "vigil.hopServerName" $ | quote }}
{{- else }}
          insecure: true
{{- end }}
{{- if $hopToken }}
        auth:
          authenticator: bearertokenauth/hop
{{- end }}
        # No queue and no retry per endpoint: a send returns when the gateway
        # has the data (or failed), so the durable queue above keeps a batch
        # until a gateway took it, and a removed endpoint's exporter holds
        # nothing when it is shut down.
        sending_queue:
          enabled: false
        retry_on_failure:
          enabled: false
    resolver:
{{- if eq $.Values.gateway.resolver "kubernetes" }}
      # The EndpointSlices of the headless Service, watched through the API
      # server (the agent's Role for it is in rbac.yaml): a gateway that
      # goes or comes is seen at once, not at the next DNS lookup.
      k8s:
        service: {{ include "vigil.gatewayHeadless" $ }}.{{ $.Release.Namespace }}
        ports: [{{ $.Values.gateway.otlp.grpcPort }}]
{{- else }}
      dns:
        hostname: {{ $target }}
        port: {{ $.Values.gateway.otlp.grpcPort | quote }}
{{- end }}
{{- end }}
{{- else }}
{{ include "vigil.exportersBackend" . | indent 2 }}
{{- end }}
{{- if $scrape }}
  # Scraped series, as Prometheus itself stores them: names as scraped (no
  # suffixes added), job and instance from the scrape, no target_info.
  prometheusremotewrite/scrape:
    endpoint: {{ .Values.backends.prometheus.endpoint | quote }}
    protocol: {{ .Values.backends.prometheus.protocol | quote }}
    translation_strategy: UnderscoreEscapingWithoutSuffixes
    float_label_format: openmetrics
    target_info:
      enabled: false
    sending_queue:
      storage: file_storage/queue
{{- end }}
service:
  extensions: [health_check, file_storage/queue{{ if $hopToken }}, bearertokenauth/hop{{ end }}]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: ${env:K8S_POD_IP}
                port: {{ .Values.selfMetrics.port }}
                # Counters end in _total and units become suffixes, as when
                # the telemetry is pushed over OTLP: the dashboards and
                # alert rules use these names.
                without_type_suffix: false
                without_units: false
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}, batch]
      exporters: [{{ if $gw }}load_balancing/traces{{ else }}jaeger{{ end }}{{ if $spans }}, span_metrics{{ end }}]
    metrics:
      receivers: [otlp{{ if and $kernel (not $ewma) }}, kernel{{ end }}{{ if $cgroup }}, cgroup{{ end }}]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}, batch]
      exporters: [{{ if $gw }}load_balancing/metrics{{ else }}prometheusremotewrite{{ end }}]
{{- if or $spans $ewma }}
    # Metrics derived from spans and from the kernel receiver's baselines;
    # their resources were enriched upstream.
    metrics/derived:
      receivers: [{{ if $spans }}span_metrics{{ end }}{{ if and $spans $ewma }}, {{ end }}{{ if $ewma }}ewma_baseline{{ end }}]
      processors: [memory_limiter, batch]
      exporters: [{{ if $gw }}load_balancing/metrics{{ else }}prometheusremotewrite{{ end }}]
{{- end }}
{{- if $ewma }}
    # The connector emits only baselines, scores and alert states: the raw
    # kernel metrics (what the dashboards plot) are exported beside it.
    metrics/kernel:
      receivers: [kernel]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}]
      exporters: [ewma_baseline, {{ if $gw }}load_balancing/metrics{{ else }}prometheusremotewrite{{ end }}]
{{- end }}
{{- if $scrape }}
    metrics/scrape:
      receivers: [prometheus]
      processors: [memory_limiter, batch]
      exporters: [prometheusremotewrite/scrape]
{{- end }}
    logs:
      receivers: [otlp{{ if $ewma }}, ewma_baseline{{ end }}]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}, batch]
      exporters: [{{ if $gw }}load_balancing/logs{{ else }}loki{{ end }}]
{{- if $podLogs }}
    # No batch processor: it would acknowledge lines before the persistent
    # queue holds them, and the file offsets move on acknowledgement.
    logs/pods:
      receivers: [file_log/pods]
      processors: [memory_limiter{{ if $k8s }}, k8s_attributes{{ end }}]
      exporters: [loki/pods]
{{- end }}
{{- end -}}

{{/* vigil.gatewayConfig renders the gateway's collector configuration. */}}
{{- define "vigil.gatewayConfig" -}}
{{- $hopToken := include "vigil.hopToken" . -}}
{{- $hopTLS := include "vigil.hopTLS" . -}}
extensions:
  health_check:
    endpoint: ${env:K8S_POD_IP}:{{ .Values.healthCheck.port }}
  file_storage/queue:
    directory: /var/lib/vigil/queue
    create_directory: true
    compaction:
      on_rebound: true
      directory: /var/lib/vigil/queue
      cleanup_on_start: true
{{- if $hopToken }}
  bearertokenauth/hop:
    token: ${env:VIGIL_HOP_TOKEN}
{{- end }}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:K8S_POD_IP}:{{ .Values.gateway.otlp.grpcPort }}
{{- if $hopTLS }}
        tls:
          cert_file: /etc/vigil/tls/tls.crt
          key_file: /etc/vigil/tls/tls.key
{{- end }}
{{- if $hopToken }}
        auth:
          authenticator: bearertokenauth/hop
{{- end }}
processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch: {}
exporters:
{{ include "vigil.exportersBackend" . | indent 2 }}
service:
  extensions: [health_check, file_storage/queue{{ if $hopToken }}, bearertokenauth/hop{{ end }}]
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: ${env:K8S_POD_IP}
                port: {{ .Values.selfMetrics.port }}
                # Counters end in _total and units become suffixes, as when
                # the telemetry is pushed over OTLP: the dashboards and
                # alert rules use these names.
                without_type_suffix: false
                without_units: false
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [jaeger]
    metrics:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [prometheusremotewrite]
    logs:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [loki]
{{- end -}}


{{/*
vigil.scrapeReceiver: the agent's prometheus receiver. Kubernetes discovery
lists and watches only the pods of this node (field selector on
spec.nodeName). Relabelling follows the prometheus.io/* annotations; "$$" is
the collector's escape for Prometheus' "$".
*/}}
{{- define "vigil.scrapeReceiver" -}}
{{- $s := .Values.agent.prometheusScrape -}}
prometheus:
  config:
    global:
      scrape_interval: {{ $s.interval }}
    scrape_configs:
{{- if $s.self }}
      - job_name: vigil-agent
        # Its own endpoint, in the same pod: gzip would only cost CPU and the
        # ~800 KiB compressor the endpoint allocates for it.
        enable_compression: false
        static_configs:
          - targets: ['${env:K8S_POD_IP}:{{ .Values.selfMetrics.port }}']
{{- end }}
{{- if $s.pods }}
      - job_name: kubernetes-pods
        kubernetes_sd_configs:
          - role: pod
            selectors:
              - role: pod
                field: spec.nodeName=${env:K8S_NODE_NAME}
        relabel_configs:
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
            regex: "true"
            action: keep
          - source_labels: [__meta_kubernetes_pod_phase]
            regex: Pending|Succeeded|Failed
            action: drop
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
            regex: (.+)
            target_label: __metrics_path__
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
            regex: (https?)
            target_label: __scheme__
          # The annotated port on the pod's IP (IPv4, then IPv6).
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port, __meta_kubernetes_pod_ip]
            regex: '(\d+);(\d+\.\d+\.\d+\.\d+)'
            replacement: '$$2:$$1'
            target_label: __address__
          - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_port, __meta_kubernetes_pod_ip]
            regex: '(\d+);([0-9A-Fa-f:]+)'
            replacement: '[$$2]:$$1'
            target_label: __address__
          - source_labels: [__meta_kubernetes_namespace]
            target_label: namespace
          - source_labels: [__meta_kubernetes_pod_name]
            target_label: pod
{{- end }}
{{- with $s.staticTargets }}
      - job_name: static
        static_configs:
          - targets: {{ toJson . }}
{{- end }}
{{- with $s.extraScrapeConfigs }}
{{ toYaml . | indent 6 }}
{{- end }}
{{- end -}}
