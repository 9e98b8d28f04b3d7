// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e && linux

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-otel/vigil/internal/netnslab"
)

// countingProxy forwards TCP connections to a target and counts the bytes
// in each direction. Between the agent and the API server it measures the
// agent's API traffic as it is on the wire (TLS included).
type countingProxy struct {
	addr     string
	up, down atomic.Int64 // client → target, target → client
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String()}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	pipe := func(dst, src net.Conn, n *atomic.Int64) {
		buf := make([]byte, 32<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				n.Add(int64(k))
				if _, werr := dst.Write(buf[:k]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Go(func() { pipe(s, c, &p.up) })
			wg.Go(func() { pipe(c, s, &p.down) })
		}
	})
	return p
}

// proxiedKubeconfig writes a copy of kubeconfig whose server is the proxy
// (the serving certificate names 127.0.0.1, so TLS still verifies).
func proxiedKubeconfig(t *testing.T, cp *controlPlane, kubeconfig string, p *countingProxy) string {
	t.Helper()
	b, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	server := cp.env["VIGIL_K8S_SERVER"]
	if !bytes.Contains(b, []byte(server)) {
		t.Fatalf("%s does not name the server %s", kubeconfig, server)
	}
	out := filepath.Join(t.TempDir(), "proxied.kubeconfig")
	if err := os.WriteFile(out, bytes.ReplaceAll(b, []byte(server), []byte("https://"+p.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// apiClient calls the API server's REST API as the admin, for bulk work
// that would take a kubectl process per object.
type apiClient struct {
	server, token string
	c             *http.Client
}

func (cp *controlPlane) api(t *testing.T) *apiClient {
	t.Helper()
	kc, err := os.ReadFile(cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, line := range strings.Split(string(kc), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "token: "); ok {
			token = v
		}
	}
	ca, err := os.ReadFile(cp.env["VIGIL_K8S_CA"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{server: cp.env["VIGIL_K8S_SERVER"], token: token, c: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// do sends a JSON request and fails unless the status is 2xx.
func (a *apiClient) do(method, path, contentType string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, a.server+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", contentType)
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	return nil
}

// parallel runs fn(i) for i in [0, n) on 4 workers and returns the first
// error.
func parallel(n int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return *e
	}
	return nil
}

// procStatus returns fields of /proc/<pid>/status in KiB (VmRSS, VmHWM,
// RssAnon, ...).
func procStatus(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

// podEvents sums the agent's k8s_attributes counters of pod watch events
// (otelcol_k8s_watcher_pod_{added,updated,deleted}).
func podEvents(t *testing.T, selfMetrics string) (added, updated, deleted float64) {
	t.Helper()
	fams, err := scrape(selfMetrics)
	if err != nil {
		t.Fatalf("scraping the agent: %v", err)
	}
	// k8s_attributes v1.2 names them otelcol.k8s.watcher.pod.* (its
	// telemetry feature gates, beta, turn the old otelsvc_k8s_pod_* off).
	has := func(name, event string) bool {
		return strings.HasPrefix(name, "otelcol_k8s_watcher_pod_"+event) || strings.HasPrefix(name, "otelcol_otelsvc_k8s_pod_"+event)
	}
	for name, f := range fams {
		switch {
		case has(name, "added"):
			added += sumFamily(f, nil)
		case has(name, "updated"):
			updated += sumFamily(f, nil)
		case has(name, "deleted"):
			deleted += sumFamily(f, nil)
		}
	}
	return added, updated, deleted
}

// exportFailures lists the agent's non-zero counters of items that failed
// to export or were dropped, for a failure message: a one-shot data point
// lost to a rejected request never arrives.
func exportFailures(selfMetrics string) string {
	fams, err := scrape(selfMetrics)
	if err != nil {
		return err.Error()
	}
	var out []string
	for name, f := range fams {
		if !strings.Contains(name, "dropped") && !strings.Contains(name, "failed") {
			continue
		}
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue()
			if v == 0 {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s}=%v", name, strings.Join(labels, ","), v))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// sendOTLPFrom posts one OTLP/JSON gauge (e2e.k8s.gauge, service.name
// marker) from ip inside netns to the agent's OTLP/HTTP receiver.
func sendOTLPFrom(t *testing.T, netns, ip, agentIP, marker string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", netns, "curl", "-sS", "--fail-with-body", "--interface", ip,
		"-H", "Content-Type: application/json", "--data-binary", otlpJSON("metrics", marker),
		fmt.Sprintf("http://%s:4318/v1/metrics", agentIP)).CombinedOutput()
	if err != nil {
		t.Fatalf("OTLP from %s: %v\n%s", ip, err, out)
	}
}

// TestK8sPodChurn re-creates a pod under the same name (a new UID, the same
// IP, a new container cgroup) and checks that the metadata follows the UID:
// the new pod's retransmits and its OTLP data (associated by connection
// IP) carry the new UID and the name, and nothing more is attributed to the
// deleted pod. Then it puts 1,000 pods on the agent's node (and 1,000 on
// another node, which the agent must not watch), updates and deletes them,
// and reports the agent's RSS and its API traffic, counted by a proxy
// between the agent and the API server.
func TestK8sPodChurn(t *testing.T) {
	const port = 5102
	root, cp, l := kernelK8sLab(t, port)
	subnet := freeSubnet(t)
	agentIP, podIP := subnet+".1", subnet+".5"
	podNetns := makeNetns(t, agentIP, podIP)

	ns := "churn-" + RandomSuffix()[:6]
	cp.createNamespace(t, ns)
	cp.createNodes(t, "node-1", "node-2")
	web := podFixture{namespace: ns, name: "web-6b7c8d9e0f-q7w8e", node: "node-1", ip: podIP, app: "web"}
	webRS := cp.createOwners(t, web)
	newGen := func() *kernelPod {
		kp := &kernelPod{podFixture: web, driver: systemdDriver}
		kp.uid = cp.createOwnedPod(t, web, webRS)
		kp.containerID = strings.Repeat(netnslab.RandSuffix(t), 8)
		kp.cgroupDir, kp.removeCg = makeCgroup(t, root, podCgroupPath(kp.driver, kp.uid, kp.containerID))
		return kp
	}
	gen1 := newGen()

	proxy := startCountingProxy(t, strings.TrimPrefix(cp.env["VIGIL_K8S_SERVER"], "https://"))
	cfg := kernelAgentConfig(t, cp, root, l.InoA)
	agent := startChartAgentWith(t, cfg, agentIP, "4318", []string{
		"KUBECONFIG=" + proxiedKubeconfig(t, cp, cp.env["VIGIL_K8S_AGENT_KUBECONFIG"], proxy),
		"K8S_NODE_NAME=node-1",
		"K8S_POD_NAME=vigil-agent-abcde",
		"K8S_NAMESPACE=" + cp.ns,
	})
	selfMetrics := fmt.Sprintf("http://%s:8888/metrics", agentIP)

	got := l.ListenAndServe(l.NsB, net.JoinHostPort(l.AddrB, strconv.Itoa(port)))
	addr := net.JoinHostPort(l.AddrB, strconv.Itoa(port))
	// retrans selects the retransmits to the lab's server, with more
	// label matchers when given.
	retrans := func(more ...string) string {
		return fmt.Sprintf(`kernel_tcp_retransmitted_segments_total{%s}`,
			strings.Join(append([]string{fmt.Sprintf("network_peer_address=%q", l.AddrB)}, more...), ","))
	}
	sfx := RandomSuffix()[:6]

	// traffic sends a lossy transfer from gen's cgroup and an OTLP gauge
	// from the pod's IP, and waits for both in Prometheus with gen's UID.
	traffic := func(gen *kernelPod, marker string) float64 {
		t.Helper()
		const size = 8 << 20
		before, beforeExt := l.SNMP(l.NsA), l.TCPExt(l.NsA)
		sendFromCgroup(t, l.NsA, gen.cgroupDir, addr, size)
		if n := <-got; n != size {
			t.Fatalf("server read %d bytes, want %d", n, size)
		}
		kernel := netnslab.Delta(l.SNMP(l.NsA), before, "RetransSegs")
		failed := netnslab.Delta(l.TCPExt(l.NsA), beforeExt, "TCPRetransFail")
		sendOTLPFrom(t, podNetns, podIP, agentIP, marker)
		var total float64
		Eventually(t, 90*time.Second, func() (bool, string) {
			// A series of the UID without a name would be data the
			// kernel receiver reported before the agent's watch had the
			// pod (not seen here: the pod exists before its cgroup); it is
			// left out so that it cannot hide the enriched one.
			s, err := promQuery(PrometheusURL, `sum by (k8s_pod_uid, k8s_pod_name, k8s_deployment_name, container_id) (`+retrans(fmt.Sprintf("k8s_pod_uid=%q", gen.uid), `k8s_pod_name!=""`)+`)`)
			if err != nil {
				return false, err.Error()
			}
			g, err := promQuery(PrometheusURL, fmt.Sprintf(`e2e_k8s_gauge{job=%q}`, marker))
			if err != nil {
				return false, err.Error()
			}
			if len(s) != 1 || s[0].Labels["k8s_pod_name"] != web.name || s[0].Labels["k8s_deployment_name"] != web.app ||
				s[0].Labels["container_id"] != gen.containerID || s[0].Value == 0 || len(g) != 1 {
				// Every series of the cgroup, named or not, so that a
				// failure shows which part was missing.
				all, _ := promQuery(PrometheusURL, retrans(fmt.Sprintf("vigil_cgroup_path=~%q", ".*"+gen.containerID+".*")))
				return false, fmt.Sprintf("retransmits of uid %s: %v; gauge %s: %v; every series of the pod's cgroup: %v; the agent's export failures: %s",
					gen.uid, s, marker, g, all, exportFailures(selfMetrics))
			}
			// All of this transfer's retransmits (see retransWithin), so
			// that the count cannot grow afterwards.
			if ok, msg := retransWithin(t, int64(s[0].Value), kernel, failed, selfMetrics); !ok {
				return false, fmt.Sprintf("uid %s: %s", gen.uid, msg)
			}
			if g[0].Labels["k8s_pod_uid"] != gen.uid || g[0].Labels["k8s_pod_name"] != web.name {
				return false, fmt.Sprintf("gauge %s from %s carries %v, want uid %s", marker, podIP, g[0].Labels, gen.uid)
			}
			total = s[0].Value
			return true, ""
		})
		return total
	}
	v1 := traffic(gen1, "churn-gen1-"+sfx)

	// The pod is deleted (no kubelet: at once) and its cgroup removed; the
	// ReplicaSet's "controller" makes a new one of the same name and IP.
	cp.kubectlAdmin(t, nil, "-n", ns, "delete", "pod", web.name, "--grace-period=0", "--force")
	gen1.removeCg()
	gen2 := newGen()
	if gen2.uid == gen1.uid {
		t.Fatalf("the re-created pod kept UID %s", gen1.uid)
	}
	v2 := traffic(gen2, "churn-gen2-"+sfx)
	t.Logf("pod %s/%s: generation 1 (uid %s) %v retransmits, generation 2 (uid %s) %v", ns, web.name, gen1.uid, v1, gen2.uid, v2)
	// Nothing more went to the deleted pod, and each UID's series carry
	// its own generation's cgroup.
	if s := PromQuery(t, PrometheusURL, "sum("+retrans(fmt.Sprintf("k8s_pod_uid=%q", gen1.uid))+")"); len(s) != 1 || s[0].Value != v1 {
		t.Errorf("retransmits attributed to the deleted pod (uid %s): %v, want %v as before the re-creation", gen1.uid, s, v1)
	}
	for _, gen := range []*kernelPod{gen1, gen2} {
		for _, s := range PromQuery(t, PrometheusURL, retrans(fmt.Sprintf("k8s_pod_name=%q", web.name))) {
			if strings.Contains(s.Labels["vigil_cgroup_path"], gen.containerID) && s.Labels["k8s_pod_uid"] != gen.uid {
				t.Errorf("series of generation uid %s carries uid %s: %v", gen.uid, s.Labels["k8s_pod_uid"], s.Labels)
			}
		}
	}
	if s := PromQuery(t, PrometheusURL, fmt.Sprintf(`e2e_k8s_gauge{job="churn-gen2-%s",k8s_pod_uid!=%q}`, sfx, gen2.uid)); len(s) != 0 {
		t.Errorf("the new pod's OTLP data attributed elsewhere: %v", s)
	}

	// 1,000 pods.
	t.Run("1000 pods", func(t *testing.T) { bulkPods(t, cp, ns, agent, podWatches(t, cfg), selfMetrics, proxy) })
}

// podWatches is the number of pod watches the agent running cfg opens: one
// per k8s_attributes instance, which is one per pipeline that lists it
// unless vigil shares one instance between pipelines (the feature gate
// processor.k8sattributes.ShareProcessorBetweenPipelines, on by default,
// or as VIGIL_E2E_FEATURE_GATES sets it; the chart has a single
// k8s_attributes configuration).
func podWatches(t *testing.T, cfg map[string]any) int {
	t.Helper()
	const gate = "processor.k8sattributes.ShareProcessorBetweenPipelines"
	out, err := exec.Command(vigilBin, "featuregate", gate).CombinedOutput()
	if err != nil {
		t.Fatalf("vigil featuregate: %v\n%s", err, out)
	}
	shared := strings.Contains(string(out), "Enabled: true")
	for _, g := range strings.Split(os.Getenv("VIGIL_E2E_FEATURE_GATES"), ",") {
		switch strings.TrimSpace(g) {
		case gate, "+" + gate:
			shared = true
		case "-" + gate:
			shared = false
		}
	}
	n := 0
	for _, p := range cfg["service"].(map[string]any)["pipelines"].(map[string]any) {
		for _, proc := range asList(p.(map[string]any)["processors"]) {
			if proc == "k8s_attributes" {
				n++
			}
		}
	}
	if n > 0 && shared {
		n = 1
	}
	t.Logf("the agent opens %d pod watch(es)", n)
	return n
}

// bulkPods creates 1,000 pods on another node, then 1,000 on the agent's
// node, sets their IPs (one status update each), deletes them, and reports
// the agent's API traffic and RSS after each step.
func bulkPods(t *testing.T, cp *controlPlane, ns string, agent *vigilAgent, watches int, selfMetrics string, proxy *countingProxy) {
	const n = 1000
	api := cp.api(t)
	bulk := podFixture{namespace: ns, name: "bulk-5f6c7d8b9a-0", app: "bulk"}
	rsUID := cp.createOwners(t, bulk)
	pod := func(node string, i int) map[string]any {
		return map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{
				"name": fmt.Sprintf("bulk-5f6c7d8b9a-%s-%04d", node, i), "namespace": ns,
				"labels": map[string]any{"app": "bulk", "pod-template-hash": "5f6c7d8b9a"},
				"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet",
					"name": "bulk-5f6c7d8b9a", "uid": rsUID, "controller": true}},
			},
			"spec": map[string]any{"nodeName": node,
				"containers": []any{map[string]any{"name": "app", "image": "example.invalid/app:1"}}},
		}
	}
	pods := "/api/v1/namespaces/" + ns + "/pods"
	type step struct {
		name                 string
		down, up             int64
		rss, hwm, anon       int64
		added, updated, dels float64
	}
	var steps []step
	record := func(name string) {
		st := procStatus(t, agent.cmd.Process.Pid)
		a, u, d := podEvents(t, selfMetrics)
		steps = append(steps, step{name, proxy.down.Load(), proxy.up.Load(), st["VmRSS"], st["VmHWM"], st["RssAnon"], a, u, d})
	}
	waitEvents := func(what string, cond func(a, u, d float64) bool) {
		Eventually(t, 120*time.Second, func() (bool, string) {
			a, u, d := podEvents(t, selfMetrics)
			return cond(a, u, d), fmt.Sprintf("%s: the agent has seen pod events added %v, updated %v, deleted %v", what, a, u, d)
		})
	}
	record("start (the churned pod only)")
	a0, u0, d0 := podEvents(t, selfMetrics)

	if err := parallel(n, func(i int) error { return api.do("POST", pods, "application/json", pod("node-2", i)) }); err != nil {
		t.Fatal(err)
	}
	// The other node's pods must cost the agent nothing but bookmarks; a
	// node-1 pod created after them is the marker that the watch has
	// caught up (events arrive in order).
	if err := api.do("POST", pods, "application/json", pod("node-1", n)); err != nil {
		t.Fatal(err)
	}
	// Every event arrives once per watch (see podWatches): the counters
	// sum over the watches.
	w := float64(watches)
	waitEvents("the marker pod", func(a, _, _ float64) bool { return a >= a0+w })
	// The one node-1 pod counts once per watch; a leak of node-2 pods
	// would come before it and add up to n per watch.
	if a, _, _ := podEvents(t, selfMetrics); a-a0 != w {
		t.Errorf("the agent received %v pod add events for 1 pod of its node and %d of node-2, want %v (one per watch)", a-a0, n, w)
	}
	record(fmt.Sprintf("+%d pods on node-2 (+1 on node-1)", n))

	if err := parallel(n, func(i int) error { return api.do("POST", pods, "application/json", pod("node-1", i)) }); err != nil {
		t.Fatal(err)
	}
	waitEvents("1,000 node-1 pods", func(a, _, _ float64) bool { return a >= a0+w*(1+n) })
	record(fmt.Sprintf("+%d pods on node-1", n))

	if err := parallel(n, func(i int) error {
		ip := fmt.Sprintf("10.246.%d.%d", i/250, i%250+1)
		status := map[string]any{"status": map[string]any{"phase": "Running", "podIP": ip, "podIPs": []any{map[string]any{"ip": ip}},
			"startTime": time.Now().UTC().Format(time.RFC3339)}}
		return api.do("PATCH", fmt.Sprintf("%s/bulk-5f6c7d8b9a-node-1-%04d/status", pods, i), "application/merge-patch+json", status)
	}); err != nil {
		t.Fatal(err)
	}
	waitEvents("1,000 status updates", func(_, u, _ float64) bool { return u >= u0+w*n })
	record(fmt.Sprintf("%d status updates (pod IPs)", n))

	del := map[string]any{"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0}
	if err := parallel(n+1, func(i int) error {
		return api.do("DELETE", fmt.Sprintf("%s/bulk-5f6c7d8b9a-node-1-%04d", pods, i), "application/json", del)
	}); err != nil {
		t.Fatal(err)
	}
	waitEvents("1,001 deletions", func(_, _, d float64) bool { return d >= d0+w*(n+1) })
	record(fmt.Sprintf("-%d pods on node-1", n+1))

	var b strings.Builder
	fmt.Fprintf(&b, "agent API traffic (bytes on the wire through the proxy, TLS included, %d pod watch(es)) and memory, %d small pods (no managedFields beyond the server's):\n", watches, n)
	fmt.Fprintf(&b, "%-34s %12s %10s %10s %10s %10s %8s %8s %8s\n", "step", "from API", "to API", "VmRSS KiB", "VmHWM KiB", "anon KiB", "added", "updated", "deleted")
	for i, s := range steps {
		dd, du := s.down, s.up
		if i > 0 {
			dd, du = s.down-steps[i-1].down, s.up-steps[i-1].up
		}
		fmt.Fprintf(&b, "%-34s %12d %10d %10d %10d %10d %8v %8v %8v\n", s.name, dd, du, s.rss, s.hwm, s.anon, s.added, s.updated, s.dels)
	}
	t.Log(b.String())
}
