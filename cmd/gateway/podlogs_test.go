// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"

	"github.com/vigil-otel/vigil/exporters/lokiexporter/lokitest"
)

// pushSink is a stand-in for Loki's push endpoint that keeps every entry
// with its stream's labels.
type pushSink struct {
	mu      sync.Mutex
	entries map[string][]push.Entry // stream labels → entries
}

func (s *pushSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := lokitest.ReadPush(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	for _, st := range req.Streams {
		s.entries[st.Labels] = append(s.entries[st.Labels], st.Entries...)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *pushSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, es := range s.entries {
		n += len(es)
	}
	return n
}

// TestDefaultConfigPodLogs runs the embedded default configuration over a
// directory in the kubelet's layout and checks what its pod-log pipeline
// pushes: CRI lines (with a line split into 16 KiB partial lines) and
// Docker json-file lines (one split into three records), labels namespace/pod/container/level, the line
// as written, the rest as structured metadata, and vigil's own pod skipped.
func TestDefaultConfigPodLogs(t *testing.T) {
	root := t.TempDir()
	const uid = "0d2a3c4e-1111-4222-8333-444455556666"
	write := func(pod, container, name, content string) {
		dir := filepath.Join(root, "shop_"+pod+"_"+uid, container)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("a", 16*1024) + strings.Repeat("b", 16*1024) + "end"
	write("web-1", "app", "2.log", ""+
		"2026-12-04T10:00:00.000000001Z stdout F level=info started\n"+
		"2026-12-04T10:00:00.000000002Z stderr F {\"level\":\"ERROR\",\"msg\":\"boom\"}\n"+
		"2026-12-04T10:00:00.000000003Z stdout P "+long[:16*1024]+"\n"+
		"2026-12-04T10:00:00.000000003Z stdout P "+long[16*1024:32*1024]+"\n"+
		"2026-12-04T10:00:00.000000003Z stdout F "+long[32*1024:]+"\n"+
		"2026-12-04T10:00:00.000000004Z stdout F no level here, level=verbose\n")
	// Docker's json-file: a line over 16 KiB is split into records of which
	// only the last ends with \n; they must come out as one entry, and
	// without the \n, as CRI lines do. stdout and stderr share the file, so
	// a record of the other stream may come between the parts.
	dockerLong := "level=debug " + strings.Repeat("d", 16*1024) + strings.Repeat("e", 16*1024) + "end"
	docker := func(part string) string {
		b, err := json.Marshal(map[string]string{"log": part, "stream": "stderr", "time": "2026-12-04T10:00:02.5Z"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	write("legacy-1", "app", "0.log", docker(dockerLong[:16*1024])+
		`{"log":"severity: warning from docker\n","stream":"stdout","time":"2026-12-04T10:00:01.5Z"}`+"\n"+
		docker(dockerLong[16*1024:32*1024])+docker(dockerLong[32*1024:]+"\n"))
	write("vigil-x", "vigil", "0.log", "2026-12-04T10:00:00Z stdout F level=error vigil's own line\n")

	sink := &pushSink{entries: map[string][]push.Entry{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	telemetry := freeAddr(t)
	_, port, _ := strings.Cut(telemetry, ":")
	env := []string{
		"VIGIL_POD_LOGS_DIR=" + root, "VIGIL_POD_NAMESPACE=shop", "VIGIL_POD_NAME=vigil-x",
		"VIGIL_LOKI_ENDPOINT=" + srv.URL + "/loki/api/v1/push",
		"VIGIL_OTLP_GRPC_ENDPOINT=" + freeAddr(t), "VIGIL_OTLP_HTTP_ENDPOINT=" + freeAddr(t),
		"VIGIL_HEALTH_ENDPOINT=" + freeAddr(t), "VIGIL_TELEMETRY_HOST=127.0.0.1", "VIGIL_TELEMETRY_PORT=" + port,
	}
	v := startVigil(t, defaultConfig, telemetry, env)

	deadline := time.Now().Add(60 * time.Second)
	for sink.count() < 6 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything more (vigil's own line, a duplicate) would arrive by now

	type got struct{ line, meta string }
	byStream := map[string][]got{}
	sink.mu.Lock()
	for labels, es := range sink.entries {
		for _, e := range es {
			var meta []string
			for _, m := range e.StructuredMetadata {
				meta = append(meta, m.Name+"="+m.Value)
			}
			sort.Strings(meta)
			byStream[labels] = append(byStream[labels], got{e.Line, strings.Join(meta, " ")})
		}
	}
	sink.mu.Unlock()
	meta := func(stream, restart string) string {
		return fmt.Sprintf("k8s_container_restart_count=%s k8s_pod_uid=%s log_iostream=%s", restart, uid, stream)
	}
	want := map[string][]got{
		`{container="app", level="info", namespace="shop", pod="web-1"}`:     {{"level=info started", meta("stdout", "2")}},
		`{container="app", level="error", namespace="shop", pod="web-1"}`:    {{`{"level":"ERROR","msg":"boom"}`, meta("stderr", "2")}},
		`{container="app", level="unknown", namespace="shop", pod="web-1"}`:  {{long, meta("stdout", "2")}, {"no level here, level=verbose", meta("stdout", "2")}},
		`{container="app", level="warn", namespace="shop", pod="legacy-1"}`:  {{"severity: warning from docker", meta("stdout", "0")}},
		`{container="app", level="debug", namespace="shop", pod="legacy-1"}`: {{dockerLong, meta("stderr", "0")}},
	}
	if len(byStream) != len(want) {
		t.Errorf("%d streams, want %d: %v", len(byStream), len(want), keys(byStream))
	}
	for labels, w := range want {
		g := byStream[labels]
		if len(g) != len(w) {
			t.Errorf("stream %s: %d entries, want %d", labels, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i].line != w[i].line {
				t.Errorf("stream %s entry %d: line of %d bytes %.60q, want %d bytes %.60q", labels, i, len(g[i].line), g[i].line, len(w[i].line), w[i].line)
			}
			if g[i].meta != w[i].meta {
				t.Errorf("stream %s entry %d: structured metadata %q, want %q", labels, i, g[i].meta, w[i].meta)
			}
		}
	}
	if n := v.metric(t, "otelcol_receiver_accepted_log_records_total", `receiver="file_log/pods"`); n != 6 {
		t.Errorf("file_log/pods accepted %v records, want 6", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
