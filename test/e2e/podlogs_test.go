// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// criPartMax is where CRI runtimes (containerd, CRI-O) split a long line:
// every 16 KiB part but the last is tagged P, the last F. Docker's json-file
// splits at the same size (only the last record's "log" ends in \n).
const criPartMax = 16 * 1024

// kubeletPod is one container's log directory as the kubelet lays it out,
// <root>/<namespace>_<pod>_<uid>/<container>/<restart>.log, written in the
// CRI format (or Docker's json-file format) as a runtime writes it.
type kubeletPod struct {
	ns, name, uid, container string
	docker                   bool
	dir                      string
	restart                  int

	f        *os.File
	rotated  []string // rotated, not yet compressed, oldest first
	rotTime  time.Time
	seq      int
	writeAt  []time.Time // by seq: when each line was written
	deleted  bool
	longEach int // every longEach-th line is longer than criPartMax (0: none)
}

func newKubeletPod(t *testing.T, root, ns, name, container string, docker bool) *kubeletPod {
	t.Helper()
	p := &kubeletPod{ns: ns, name: name, container: container, docker: docker,
		uid: fmt.Sprintf("%08x-0000-4000-8000-%012x", len(name), time.Now().UnixNano()&0xffffffffffff)}
	p.dir = filepath.Join(root, fmt.Sprintf("%s_%s_%s", ns, name, p.uid), container)
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.rotTime = time.Now().UTC()
	p.open(t)
	return p
}

func (p *kubeletPod) path() string { return filepath.Join(p.dir, strconv.Itoa(p.restart)+".log") }

func (p *kubeletPod) open(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(p.path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	p.f = f
}

// message is line seq's text: its level (three spellings, or none), the
// pod and the sequence number, padded past criPartMax for long lines.
func (p *kubeletPod) message(seq int) string {
	var lvl string
	switch seq % 4 {
	case 0:
		lvl = "level=info "
	case 1:
		lvl = `{"level":"error","msg":"x"} `
	case 2:
		lvl = "severity: WARNING "
	}
	m := fmt.Sprintf("%spod=%s seq=%d", lvl, p.name, seq)
	if p.longEach > 0 && seq%p.longEach == p.longEach-1 {
		m += " " + strings.Repeat("x", 2*criPartMax+criPartMax/2) // three CRI parts
	}
	return m
}

// levelOf is the level label the line of seq must get.
func levelOf(seq int) string {
	return [...]string{"info", "error", "warn", "unknown"}[seq%4]
}

// writeLine writes the next line, split into parts as a runtime does.
func (p *kubeletPod) writeLine(t *testing.T) {
	t.Helper()
	msg := p.message(p.seq)
	now := time.Now().UTC()
	var b strings.Builder
	if p.docker {
		// Docker's json-file: one JSON object per record, at most 16 KiB of
		// the line each; only the last record's "log" ends in \n.
		rest := msg + "\n"
		for rest != "" {
			part := rest[:min(len(rest), criPartMax)]
			rest = rest[len(part):]
			fmt.Fprintf(&b, `{"log":%q,"stream":"stdout","time":%q}`+"\n", part, now.Format(time.RFC3339Nano))
		}
	} else {
		ts := now.Format(time.RFC3339Nano)
		for len(msg) > criPartMax {
			fmt.Fprintf(&b, "%s stdout P %s\n", ts, msg[:criPartMax])
			msg = msg[criPartMax:]
		}
		fmt.Fprintf(&b, "%s stdout F %s\n", ts, msg)
	}
	if _, err := p.f.WriteString(b.String()); err != nil {
		t.Errorf("writing %s: %v", p.path(), err)
		return
	}
	p.writeAt = append(p.writeAt, now)
	p.seq++
}

// rotate does what the kubelet's container log manager does when a file
// reaches its size limit: rename N.log to N.log.<YYYYMMDD-hhmmss> and let the
// runtime reopen N.log.
func (p *kubeletPod) rotate(t *testing.T) {
	t.Helper()
	if err := p.f.Close(); err != nil {
		t.Fatal(err)
	}
	// The kubelet names rotated files by the second; keep them distinct.
	p.rotTime = p.rotTime.Add(time.Second)
	name := p.path() + "." + p.rotTime.Format("20060102-150405")
	if err := os.Rename(p.path(), name); err != nil {
		t.Fatal(err)
	}
	p.rotated = append(p.rotated, name)
	p.open(t)
}

// compress gzips every rotated file but the newest, as the kubelet does
// later: into <name>.tmp, renamed to <name>.gz, then the original removed.
func (p *kubeletPod) compress(t *testing.T, all bool) {
	t.Helper()
	keep := 1
	if all {
		keep = 0
	}
	for len(p.rotated) > keep {
		name := p.rotated[0]
		p.rotated = p.rotated[1:]
		in, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(name + ".tmp")
		if err != nil {
			t.Fatal(err)
		}
		zw := gzip.NewWriter(out)
		_, err = io.Copy(zw, in)
		in.Close()
		if err == nil {
			err = zw.Close()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".tmp", name+".gz"); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
}

// remove deletes the pod's whole directory, as the kubelet does when the
// pod is deleted.
func (p *kubeletPod) remove(t *testing.T) {
	t.Helper()
	p.f.Close()
	if err := os.RemoveAll(filepath.Dir(p.dir)); err != nil {
		t.Fatal(err)
	}
	p.deleted = true
}

// podLogWriter writes one line to every live pod each tick: a steady rate.
type podLogWriter struct {
	mu   sync.Mutex
	pods []*kubeletPod
	stop chan struct{}
	done <-chan struct{}
}

func startPodLogWriter(t *testing.T, tick time.Duration, pods ...*kubeletPod) *podLogWriter {
	w := &podLogWriter{pods: pods, stop: make(chan struct{})}
	w.done = Every(w.stop, tick, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.pods {
			if !p.deleted {
				p.writeLine(t)
			}
		}
	})
	t.Cleanup(w.Stop)
	return w
}

// Do runs f between two ticks.
func (w *podLogWriter) Do(f func()) { w.mu.Lock(); defer w.mu.Unlock(); f() }

// Stop stops writing and waits for the last tick.
func (w *podLogWriter) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// podLogsStats counts a pod's entries and distinct lines in VictoriaLogs.
func podLogsStats(pod string, from time.Time) (n, uniq int, err error) {
	q := fmt.Sprintf(`{pod=%s} | stats count() n, count_uniq(_msg) u`, LogsQLString(pod))
	rows, err := logsRows(q, from, time.Now().Add(time.Hour), 0)
	if err != nil {
		return 0, 0, err
	}
	if len(rows) != 1 {
		return 0, 0, fmt.Errorf("%s: %d rows, want 1", q, len(rows))
	}
	if n, err = strconv.Atoi(rows[0]["n"]); err == nil {
		uniq, err = strconv.Atoi(rows[0]["u"])
	}
	return n, uniq, err
}

// seqReport says which of pod p's lines are not stored, the times they were
// written, and which stored lines carry no sequence number (a line whose
// first part was lost), for the message of a failed count.
func seqReport(p *kubeletPod, from time.Time) string {
	rows, err := logsRows(fmt.Sprintf(`{pod=%s} | fields _msg`, LogsQLString(p.name)), from, time.Now().Add(time.Hour), 1_000_000)
	if err != nil {
		return err.Error()
	}
	stored := make([]bool, p.seq)
	var noSeq []string
	for _, r := range rows {
		m := r["_msg"]
		i := strings.Index(m, " seq=")
		if i < 0 {
			noSeq = append(noSeq, fmt.Sprintf("%d bytes %.60q", len(m), m))
			continue
		}
		f := strings.Fields(m[i+len(" seq="):])
		if len(f) == 0 {
			noSeq = append(noSeq, fmt.Sprintf("%.60q", m))
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil && n >= 0 && n < len(stored) {
			stored[n] = true
		}
	}
	var missing []string
	for n, ok := range stored {
		if !ok && len(missing) < 20 {
			at := ""
			if n < len(p.writeAt) {
				at = p.writeAt[n].Format("15:04:05.000")
			}
			missing = append(missing, fmt.Sprintf("seq %d (long: %v, written %s)", n, p.longEach > 0 && n%p.longEach == p.longEach-1, at))
		}
	}
	return fmt.Sprintf("%d rows; missing (up to 20): %v; rows without a seq: %d %v", len(rows), missing, len(noSeq), noSeq[:min(len(noSeq), 5)])
}

// TestPodLogs runs the embedded default configuration's pod-log pipeline
// (filelog with the container parser → loki/pods → VictoriaLogs) over a
// directory in the kubelet's layout, written at a steady rate while the
// kubelet rotates and compresses files, a pod is deleted, vigil is killed
// with SIGKILL and restarted, and the logs backend is down for 60 s. Every
// line written must be stored exactly once; only the lines read in the
// poll cycle that the SIGKILL interrupted may be stored twice (at-least-once:
// filelog checkpoints offsets at the end of each poll, README "Pod logs").
func TestPodLogs(t *testing.T) {
	root := t.TempDir()
	sfx := RandomSuffix()
	ns := "e2e-" + sfx
	a := newKubeletPod(t, root, ns, "web-"+sfx, "app", false)
	a.longEach = 25 // partial lines: three CRI parts each
	b := newKubeletPod(t, root, ns, "api-"+sfx, "server", false)
	d := newKubeletPod(t, root, ns, "docker-"+sfx, "legacy", true)
	d.longEach = 25 // partial lines: three json-file records each
	gone := newKubeletPod(t, root, ns, "gone-"+sfx, "app", false)
	// Vigil's own pod: never read.
	self := newKubeletPod(t, root, ns, "vigil-"+sfx, "vigil", false)
	pods := []*kubeletPod{a, b, d, gone}
	start := time.Now().Add(-time.Minute)

	// 40 lines/s per pod.
	w := startPodLogWriter(t, 25*time.Millisecond, a, b, d, gone, self)
	v := StartVigil(t, "", "VIGIL_POD_LOGS_DIR="+root, "VIGIL_POD_NAMESPACE="+ns, "VIGIL_POD_NAME="+self.name)

	step := func(what string, pause time.Duration) {
		t.Logf("%s: %s", time.Now().Format("15:04:05.000"), what)
		time.Sleep(pause)
	}
	step("writing", 5*time.Second)
	w.Do(func() { a.rotate(t) })
	step("rotated web", 3*time.Second)
	w.Do(func() { b.rotate(t); d.rotate(t) })
	step("rotated api and docker", 3*time.Second)
	w.Do(func() { a.rotate(t); a.compress(t, false) })
	step("rotated web again, compressed its first rotated file", 3*time.Second)
	w.Do(func() { gone.remove(t) })
	step("deleted pod gone", 3*time.Second)

	var killAt time.Time
	w.Do(func() { killAt = time.Now() })
	v.Kill(t)
	w.Do(func() { a.rotate(t); b.rotate(t) })
	step("killed vigil (SIGKILL), rotated web and api while it is down", 3*time.Second)
	v.Restart(t)
	step("restarted vigil", 5*time.Second)

	StopBackend(t, "victorialogs")
	backendDown := true
	defer func() {
		if backendDown {
			StartBackend(t, "victorialogs")
		}
	}()
	step("stopped VictoriaLogs", 20*time.Second)
	w.Do(func() { a.rotate(t); b.compress(t, false); a.compress(t, false) })
	step("rotated and compressed during the outage", 40*time.Second)
	StartBackend(t, "victorialogs")
	backendDown = false
	step("VictoriaLogs back", 5*time.Second)
	w.Stop()
	w.Do(func() {
		for _, p := range pods {
			if !p.deleted {
				p.compress(t, false)
			}
		}
	})

	written := map[string]int{}
	total := 0
	for _, p := range pods {
		written[p.name] = p.seq
		total += p.seq
	}
	t.Logf("lines written: %v (total %d)", written, total)
	for _, p := range pods {
		EventuallyReport(t, 180*time.Second, func() (bool, string) {
			_, u, err := podLogsStats(p.name, start)
			if err != nil {
				return false, err.Error()
			}
			return u == p.seq, fmt.Sprintf("pod %s: %d distinct lines stored, want %d", p.name, u, p.seq)
		}, func() string { return seqReport(p, start) })
	}

	// Duplicates: only lines written shortly before the SIGKILL, i.e. read
	// in the poll cycle it interrupted, may be stored twice.
	dups := 0
	for _, p := range pods {
		n, u, err := podLogsStats(p.name, start)
		if err != nil {
			t.Fatal(err)
		}
		if n == u {
			continue
		}
		dups += n - u
		rows, err := logsRows(fmt.Sprintf(`{pod=%s} | stats by (_msg) count() c | filter c:>1 | fields _msg`, LogsQLString(p.name)), start, time.Now().Add(time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			_, after, _ := strings.Cut(r["_msg"], " seq=")
			seq, err := strconv.Atoi(strings.Fields(after)[0])
			if err != nil {
				t.Fatalf("duplicate line %.80q: no seq", r["_msg"])
			}
			if at := p.writeAt[seq]; at.After(killAt) || killAt.Sub(at) > 5*time.Second {
				t.Errorf("pod %s line %d (written %s, SIGKILL at %s) stored twice, not in the poll the SIGKILL interrupted", p.name, seq, at.Format("15:04:05.000"), killAt.Format("15:04:05.000"))
			}
		}
	}
	t.Logf("lines stored twice (read in the poll cycle the SIGKILL interrupted): %d of %d", dups, total)

	// Vigil's own log is excluded.
	if n := LogsCount(t, fmt.Sprintf(`{pod=%s}`, LogsQLString(self.name)), start, time.Now().Add(time.Hour)); n != 0 {
		t.Errorf("vigil's own pod: %d entries stored, want 0 (excluded)", n)
	}

	// Labels: namespace, pod, container and level; per level, exact counts.
	for _, p := range pods {
		want := map[string]int{}
		for seq := 0; seq < p.seq; seq++ {
			want[levelOf(seq)]++
		}
		rows, err := logsRows(fmt.Sprintf(`{namespace=%s, pod=%s, container=%s} | stats by (level) count_uniq(_msg) n`,
			LogsQLString(ns), LogsQLString(p.name), LogsQLString(p.container)), start, time.Now().Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, r := range rows {
			got[r["level"]], _ = strconv.Atoi(r["n"])
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("pod %s: distinct lines by level label %v, want %v", p.name, got, want)
		}
	}

	// One entry in full: line, stream labels, structured metadata.
	for _, p := range []*kubeletPod{a, d} {
		seq := p.longEach - 1
		if p.longEach == 0 {
			seq = 3
		}
		q := fmt.Sprintf(`{pod=%s} %s | limit 1`, LogsQLString(p.name), LogsQLString(fmt.Sprintf("pod=%s seq=%d", p.name, seq)))
		streams := LogsQuery(t, q, start, time.Now().Add(time.Hour))
		if len(streams) != 1 || len(streams[0].Entries) != 1 {
			t.Fatalf("%s: %+v, want one entry", q, streams)
		}
		s, e := streams[0], streams[0].Entries[0]
		wantLabels := map[string]string{"namespace": ns, "pod": p.name, "container": p.container, "level": levelOf(seq)}
		if fmt.Sprint(s.Labels) != fmt.Sprint(wantLabels) {
			t.Errorf("pod %s: labels %v, want %v", p.name, s.Labels, wantLabels)
		}
		want := p.message(seq) // Docker's trailing \n is dropped, as CRI lines have none
		if e.Line != want {
			t.Errorf("pod %s line %d: %d bytes %.100q..., want %d bytes %.100q...", p.name, seq, len(e.Line), e.Line, len(want), want)
		}
		if !e.Time.Equal(p.writeAt[seq].Truncate(time.Microsecond)) && !e.Time.Equal(p.writeAt[seq]) {
			t.Errorf("pod %s line %d: time %s, want the runtime's %s", p.name, seq, e.Time, p.writeAt[seq])
		}
		wantMeta := map[string]string{"k8s_pod_uid": p.uid, "k8s_container_restart_count": "0", "log_iostream": "stdout"}
		for k, v := range wantMeta {
			if e.Metadata[k] != v {
				t.Errorf("pod %s: structured metadata %s = %q, want %q (all: %v)", p.name, k, e.Metadata[k], v, e.Metadata)
			}
		}
		if _, ok := e.Metadata["log_file_path"]; ok {
			t.Errorf("pod %s: log_file_path sent in every entry: %v", p.name, e.Metadata)
		}
	}

	if d := v.SelfMetric(t, "otelcol_exporter_loki_dropped_entries_total", nil); d != 0 {
		t.Errorf("vigil dropped %v entries", d)
	}
	if d := logsBackendRefusals(t); d != 0 {
		t.Errorf("VictoriaLogs refused or dropped %v entries", d)
	}
}
