// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRejectsMisspeltKeys checks, for every component Vigil builds
// itself or wraps, that `vigil validate` rejects a misspelt key and names it:
// at the top of the component's config, inside a squashed client config, and
// inside a nested block. A component whose config squashes a struct that
// implements confmap.Unmarshaler loses the decoder's unknown-key check
// (collector issue #15907); internal/strictconfig puts it back.
func TestValidateRejectsMisspeltKeys(t *testing.T) {
	tests := []struct {
		name string
		// section is the config section; body is the component's config,
		// indented under its ID.
		section, id, body string
		// pipeline is the service::pipelines block that uses the component.
		pipeline string
		bad      string // the misspelt key the message must name
	}{
		{
			name: "loki top-level", section: "exporters", id: "loki",
			body:     "endpoint: http://127.0.0.1:3100/loki/api/v1/push\nline_fromat: json",
			pipeline: "logs: {receivers: [otlp], exporters: [loki]}", bad: "line_fromat",
		},
		{
			name: "loki nested", section: "exporters", id: "loki",
			body:     "endpoint: http://127.0.0.1:3100/loki/api/v1/push\nlabels:\n  resourse: {service.name: service_name}",
			pipeline: "logs: {receivers: [otlp], exporters: [loki]}", bad: "resourse",
		},
		{
			name: "loki client config", section: "exporters", id: "loki",
			body:     "endpoint: http://127.0.0.1:3100/loki/api/v1/push\ntls:\n  insecure_skip_verfy: true",
			pipeline: "logs: {receivers: [otlp], exporters: [loki]}", bad: "insecure_skip_verfy",
		},
		{
			name: "prometheusremotewrite top-level", section: "exporters", id: "prometheusremotewrite",
			body:     "endpoint: http://127.0.0.1:9090/api/v1/write\nprotcol: v2",
			pipeline: "metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}", bad: "protcol",
		},
		{
			name: "prometheusremotewrite queue", section: "exporters", id: "prometheusremotewrite",
			body:     "endpoint: http://127.0.0.1:9090/api/v1/write\nsending_queue:\n  queue_sise: 10",
			pipeline: "metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}", bad: "queue_sise",
		},
		{
			name: "prometheusremotewrite client config", section: "exporters", id: "prometheusremotewrite",
			body:     "endpoint: http://127.0.0.1:9090/api/v1/write\ntls:\n  insecure_skip_verfy: true",
			pipeline: "metrics: {receivers: [otlp], exporters: [prometheusremotewrite]}", bad: "insecure_skip_verfy",
		},
		{
			name: "jaeger top-level", section: "exporters", id: "jaeger",
			body:     "endpoint: 127.0.0.1:14250\nbalancer_nam: round_robin\ntls: {insecure: true}\nretry_on_faliure: {enabled: true}",
			pipeline: "traces: {receivers: [otlp], exporters: [jaeger]}", bad: "retry_on_faliure",
		},
		{
			name: "jaeger client config", section: "exporters", id: "jaeger",
			body:     "endpoint: 127.0.0.1:14250\ntls: {insecure: true, insecure_skip_verfy: true}",
			pipeline: "traces: {receivers: [otlp], exporters: [jaeger]}", bad: "insecure_skip_verfy",
		},
		{
			name: "kernel top-level", section: "receivers", id: "kernel",
			body:     "collection_intervall: 10s",
			pipeline: "metrics: {receivers: [kernel], exporters: [debug]}", bad: "collection_intervall",
		},
		{
			name: "kernel metrics block", section: "receivers", id: "kernel",
			body:     "metrics:\n  kernel.tcp.retransmitted_segments: {enabeld: false}",
			pipeline: "metrics: {receivers: [kernel], exporters: [debug]}", bad: "enabeld",
		},
		{
			name: "cgroup top-level", section: "receivers", id: "cgroup",
			body:     "collection_intervall: 10s",
			pipeline: "metrics: {receivers: [cgroup], exporters: [debug]}", bad: "collection_intervall",
		},
		{
			name: "cgroup metrics block", section: "receivers", id: "cgroup",
			body:     "metrics:\n  cgroup.cpu.time: {enabeld: false}",
			pipeline: "metrics: {receivers: [cgroup], exporters: [debug]}", bad: "enabeld",
		},
		{
			name: "ewma_baseline top-level", section: "connectors", id: "ewma_baseline",
			body:     "max_serie: 10\nrules: [{name: r, metric: m}]",
			pipeline: "metrics/in: {receivers: [otlp], exporters: [ewma_baseline]}\n    metrics/out: {receivers: [ewma_baseline], exporters: [debug]}", bad: "max_serie",
		},
		{
			name: "ewma_baseline rule", section: "connectors", id: "ewma_baseline",
			body:     "rules: [{name: r, metric: m, halflife: 10m}]",
			pipeline: "metrics/in: {receivers: [otlp], exporters: [ewma_baseline]}\n    metrics/out: {receivers: [ewma_baseline], exporters: [debug]}", bad: "halflife",
		},
		{
			name: "ewma_baseline alertmanager", section: "connectors", id: "ewma_baseline",
			body:     "rules: [{name: r, metric: m}]\nalertmanager:\n  endpoint: http://127.0.0.1:9093\n  resend_intervall: 1m",
			pipeline: "metrics/in: {receivers: [otlp], exporters: [ewma_baseline]}\n    metrics/out: {receivers: [ewma_baseline], exporters: [debug]}", bad: "resend_intervall",
		},
		{
			name: "memory_limiter", section: "processors", id: "memory_limiter",
			body:     "check_interval: 1s\nlimit_percentage: 80\nspike_limit_percantage: 20",
			pipeline: "traces: {receivers: [otlp], processors: [memory_limiter], exporters: [debug]}", bad: "spike_limit_percantage",
		},
		{
			name: "file_storage", section: "extensions", id: "file_storage",
			body:     "directory: /nonexistent\ncreate_directory: true\ncompaction:\n  on_rebund: true",
			pipeline: "traces: {receivers: [otlp], exporters: [debug]}", bad: "on_rebund",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			b.WriteString("receivers:\n  otlp:\n    protocols: {grpc: {endpoint: 127.0.0.1:0}}\n")
			b.WriteString("exporters:\n  debug: {}\n")
			if tt.section != "receivers" && tt.section != "exporters" {
				b.WriteString(tt.section + ":\n")
			} else {
				// Append to the section already opened above.
				s := b.String()
				b.Reset()
				b.WriteString(strings.Replace(s, tt.section+":\n", tt.section+":\n  "+tt.id+":\n"+indent(tt.body, "    ")+"\n", 1))
			}
			if tt.section != "receivers" && tt.section != "exporters" {
				b.WriteString("  " + tt.id + ":\n" + indent(tt.body, "    ") + "\n")
			}
			b.WriteString("service:\n")
			if tt.section == "extensions" {
				b.WriteString("  extensions: [" + tt.id + "]\n")
			}
			b.WriteString("  pipelines:\n    " + tt.pipeline + "\n")
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := runVigil(t, "validate", "--config", path)
			if code == 0 {
				t.Fatalf("vigil validate accepted the misspelt key %q:\n%s\nconfig:\n%s", tt.bad, out, b.String())
			}
			if !strings.Contains(out, tt.bad) {
				t.Errorf("the message does not name %q:\n%s", tt.bad, out)
			}
		})
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
