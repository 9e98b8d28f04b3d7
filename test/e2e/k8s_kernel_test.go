// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e && linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-otel/vigil/dashboards"
	"github.com/vigil-otel/vigil/internal/netnslab"
)

// init lets the kernel tests re-run this binary as a TCP client inside a
// pod's cgroup and a network namespace, so that its sockets are the pod's
// (netnslab.RunClient).
func init() { netnslab.ClientMain() }

// cgroupDriver is one of the kubelet's cgroup layouts.
type cgroupDriver string

const (
	systemdDriver  cgroupDriver = "systemd"
	cgroupfsDriver cgroupDriver = "cgroupfs"
)

// podCgroupPath is the cgroup (relative to the v2 root) the kubelet gives a
// burstable pod's container under driver, with containerd as the runtime.
func podCgroupPath(driver cgroupDriver, podUID, containerID string) string {
	if driver == systemdDriver {
		return filepath.Join("kubepods.slice", "kubepods-burstable.slice",
			"kubepods-burstable-pod"+strings.ReplaceAll(podUID, "-", "_")+".slice",
			"cri-containerd-"+containerID+".scope")
	}
	return filepath.Join("kubepods", "burstable", "pod"+podUID, containerID)
}

// makeCgroup creates rel under the cgroup v2 root, one level at a time;
// t.Cleanup removes the levels it created, deepest first (a level another
// run made, such as kubepods.slice, stays). remove removes them now.
func makeCgroup(t *testing.T, root, rel string) (dir string, remove func()) {
	t.Helper()
	var made []string
	dir = root
	for _, part := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, part)
		if err := os.Mkdir(dir, 0o755); err == nil {
			made = append(made, dir)
		} else if !os.IsExist(err) {
			t.Fatalf("creating cgroup %s: %v", dir, err)
		}
	}
	var once sync.Once
	remove = func() {
		once.Do(func() {
			for i := len(made) - 1; i >= 0; i-- {
				if err := os.Remove(made[i]); err != nil && !os.IsNotExist(err) && i == len(made)-1 {
					t.Errorf("removing cgroup %s: %v", made[i], err)
				}
			}
		})
	}
	t.Cleanup(remove)
	return dir, remove
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted
// (/sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones):
// the hierarchy whose ids eBPF programs see.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ... mount-point ... - fstype source options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		if pf, qf := strings.Fields(pre), strings.Fields(post); len(pf) > 4 && len(qf) > 0 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	t.Skip("skipping: no cgroup v2 hierarchy mounted on this host")
	return ""
}

// sendFromCgroup sends size bytes to addr from network namespace ns, by a
// client started directly inside cgroup dir, and waits until it is done.
func sendFromCgroup(t *testing.T, ns, dir, addr string, size int) {
	t.Helper()
	netnslab.RunClient(t, ns, dir, fmt.Sprintf("send %s %d", addr, size))
}

// kernelPod is a pod of the kernel tests: its API object and the cgroup of
// its one container.
type kernelPod struct {
	podFixture
	driver      cgroupDriver
	uid         string
	containerID string
	cgroupDir   string
	removeCg    func()
}

// newKernelPod creates the pod (Deployment → ReplicaSet → Pod on node-1)
// and then its container's cgroup, named after the UID the API server gave
// it, as the kubelet would.
func (cp *controlPlane) newKernelPod(t *testing.T, root string, p podFixture, driver cgroupDriver) *kernelPod {
	t.Helper()
	kp := &kernelPod{podFixture: p, driver: driver}
	kp.uid = cp.createPod(t, p)
	kp.containerID = strings.Repeat(netnslab.RandSuffix(t), 8)
	kp.cgroupDir, kp.removeCg = makeCgroup(t, root, podCgroupPath(driver, kp.uid, kp.containerID))
	return kp
}

// kernelAgentConfig is the chart's rendered agent configuration (kernel
// receiver at a 1 s interval, EWMA baselines, k8s_attributes,
// prometheusremotewrite to the loopback Prometheus with resource attributes
// as labels; see chartAgentConfig for what is changed for a host outside a
// pod), with the kernel receiver exporting only the data of network
// namespace inode, so the host's own traffic stays out.
func kernelAgentConfig(t *testing.T, cp *controlPlane, root string, inode uint32) map[string]any {
	t.Helper()
	cfg := chartAgentConfig(t, cp, []string{"agent.cgroup.enabled=false", "spanMetrics.enabled=false",
		"agent.kernel.collectionInterval=1s"})
	kernel := cfg["receivers"].(map[string]any)["kernel"].(map[string]any)
	// The chart leaves cgroup_root to the receiver, which must find root
	// (on this hybrid host /sys/fs/cgroup/unified, below the v1 tmpfs).
	if r, ok := kernel["cgroup_root"]; ok && r != root {
		t.Fatalf("the chart names cgroup_root %v; the cgroup v2 mount here is %s", r, root)
	}
	kernel["resource_attributes"] = map[string]any{
		"vigil.netns.inode": map[string]any{"enabled": true, "metrics_include": []any{map[string]any{"strict": strconv.FormatUint(uint64(inode), 10)}}},
	}
	return cfg
}

// kernelLosses is what the agent whose self-metrics are at url reports it
// did not count: events the kernel did not hand to its programs (recursion
// misses, machine-wide, so an upper bound for a test's connections), and
// events dropped or folded into the overflow peer because a map was full.
// Zero on a quiet machine; the full suite runs beside the soak test, where
// counts of 1,418 for 1,447 and 888 for 889 retransmits were seen.
func kernelLosses(url string) (int64, string) {
	families, err := scrape(url)
	if err != nil {
		return 0, err.Error()
	}
	var n int64
	var parts []string
	for _, name := range []string{"otelcol_receiver_kernel_missed_events_total", "otelcol_receiver_kernel_peer_map_full_total", "otelcol_receiver_kernel_peer_overflow_total"} {
		v := int64(sumFamily(families[name], nil))
		n += v
		parts = append(parts, fmt.Sprintf("%s %d", name, v))
	}
	return n, strings.Join(parts, ", ")
}

// retransWithin checks a retransmit count read from Prometheus against the
// kernel's TcpRetransSegs delta: at most that, and at least that less the
// retransmits that failed late (TCPRetransFail: see
// TestKernelReceiverToPrometheus) and what the agent whose self-metrics are
// at selfMetrics reports it lost (kernelLosses). A shortfall that those
// losses explain is logged.
func retransWithin(t *testing.T, got, kernel, failed int64, selfMetrics string) (bool, string) {
	t.Helper()
	if got > kernel {
		return false, fmt.Sprintf("%d retransmits, above the kernel's TcpRetransSegs %d", got, kernel)
	}
	if got >= kernel-failed {
		return true, ""
	}
	lost, how := kernelLosses(selfMetrics)
	if got < kernel-failed-lost {
		return false, fmt.Sprintf("%d retransmits, kernel TcpRetransSegs %d (TCPRetransFail %d); the agent's own losses: %s", got, kernel, failed, how)
	}
	t.Logf("%d retransmits, kernel TcpRetransSegs %d (TCPRetransFail %d); short by what the agent reports it lost: %s", got, kernel, failed, how)
	return true, ""
}

// kernelK8sLab sets up what the Kubernetes kernel tests share: they need
// root (else the test is skipped); the cgroup2 mount, a control plane, and a
// netns lab whose NsB drops one in ten packets arriving at port.
func kernelK8sLab(t *testing.T, port uint16) (root string, cp *controlPlane, l *netnslab.Lab) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: the kernel receiver, cgroups and network namespaces need root (CI runs e2e as root)")
	}
	root = cgroup2Mount(t)
	cp = startControlPlane(t)
	l = netnslab.New(t)
	l.DropIngress(l.NsB, "vb", port, 10)
	return root, cp, l
}

// TestK8sKernelSignalsPerPod: two pods on the agent's node, one in a cgroup
// laid out by the kubelet's systemd driver and one by its cgroupfs driver
// (containerd), each send a bulk transfer through 10 % loss. Their
// retransmits reach Prometheus labelled with the pod's name, namespace,
// deployment, node and UID and the container's id: the kernel receiver
// parses the UID from the cgroup path and k8s_attributes, watching the real
// API server, joins it to the pod. Every retransmit of the transfers is
// attributed to one of the two pods.
func TestK8sKernelSignalsPerPod(t *testing.T) {
	const port = 5101
	root, cp, l := kernelK8sLab(t, port)

	ns := "shop-" + RandomSuffix()[:6]
	cp.createNamespace(t, ns)
	cp.createNodes(t, "node-1")
	pods := []*kernelPod{
		cp.newKernelPod(t, root, podFixture{namespace: ns, name: "checkout-7d9f8b6c5d-x2v4q", node: "node-1", ip: "10.244.1.5", app: "checkout"}, systemdDriver),
		cp.newKernelPod(t, root, podFixture{namespace: ns, name: "payments-5c6d7e8f9a-k8j7h", node: "node-1", ip: "10.244.1.6", app: "payments"}, cgroupfsDriver),
	}
	const agentIP = "127.0.86.1"
	startChartAgent(t, cp, kernelAgentConfig(t, cp, root, l.InoA), agentIP, "node-1")

	got := l.ListenAndServe(l.NsB, net.JoinHostPort(l.AddrB, strconv.Itoa(port)))
	before, beforeExt := l.SNMP(l.NsA), l.TCPExt(l.NsA)
	const size = 8 << 20
	for _, p := range pods {
		sendFromCgroup(t, l.NsA, p.cgroupDir, net.JoinHostPort(l.AddrB, strconv.Itoa(port)), size)
		if n := <-got; n != size {
			t.Fatalf("server read %d bytes from %s, want %d", n, p.name, size)
		}
	}
	kernelRetrans := netnslab.Delta(l.SNMP(l.NsA), before, "RetransSegs")
	failed := netnslab.Delta(l.TCPExt(l.NsA), beforeExt, "TCPRetransFail")
	if kernelRetrans == 0 {
		t.Fatal("no retransmits in the lab: the loss program did not drop")
	}

	// retrans selects the retransmits to the lab's server, with more
	// label matchers when given.
	retrans := func(more ...string) string {
		return fmt.Sprintf(`kernel_tcp_retransmitted_segments_total{%s}`,
			strings.Join(append([]string{fmt.Sprintf("network_peer_address=%q", l.AddrB)}, more...), ","))
	}
	Eventually(t, 90*time.Second, func() (bool, string) {
		all, err := promQuery(PrometheusURL, "sum("+retrans()+")")
		if err != nil {
			return false, err.Error()
		}
		perPod, err := promQuery(PrometheusURL, fmt.Sprintf(`sum by (k8s_pod_uid) (%s)`, retrans()))
		if err != nil {
			return false, err.Error()
		}
		if len(all) != 1 || len(perPod) != len(pods) {
			return false, fmt.Sprintf("retransmits: total %v, per pod %v (want %d pods); kernel counted %d", all, perPod, len(pods), kernelRetrans)
		}
		// The kernel's count (no late failures with loss on the wire only).
		return retransWithin(t, int64(all[0].Value), kernelRetrans, failed, "http://"+agentIP+":8888/metrics")
	})

	// Each pod's series carry its metadata, joined through its UID.
	for _, p := range pods {
		s := PromQuery(t, PrometheusURL, retrans(fmt.Sprintf("k8s_pod_uid=%q", p.uid)))
		if len(s) == 0 {
			t.Errorf("%s pod %s (%s): no retransmit series with its UID", p.driver, p.name, p.uid)
			continue
		}
		want := map[string]string{
			"k8s_pod_name":        p.name,
			"k8s_namespace_name":  ns,
			"k8s_deployment_name": p.app,
			"k8s_node_name":       "node-1",
			"container_id":        p.containerID,
			"vigil_cgroup_path":   "/" + podCgroupPath(p.driver, p.uid, p.containerID),
		}
		var total float64
		for _, sm := range s {
			total += sm.Value
			for k, v := range want {
				if sm.Labels[k] != v {
					t.Errorf("%s pod %s: series %v has %s=%q, want %q", p.driver, p.name, sm.Labels, k, sm.Labels[k], v)
				}
			}
		}
		t.Logf("%s driver: pod %s/%s (deployment %s, uid %s): %v retransmits; labels %v", p.driver, ns, p.name, p.app, p.uid, total, s[0].Labels)
		if total == 0 {
			t.Errorf("%s pod %s: 0 retransmits", p.driver, p.name)
		}
	}
	if s := PromQuery(t, PrometheusURL, retrans(`k8s_pod_name=""`)); len(s) != 0 {
		t.Errorf("retransmits without a pod: %v", s)
	}
	for _, p := range pods {
		checkK8sLabelVariables(t, map[string]string{"namespace": ns, "pod": p.name, "node": "node-1"})
	}
}

// checkK8sLabelVariables runs the dashboards' variables on k8s_* labels
// (filled from k8s_attributes' enrichment) as Grafana does, through the
// label values API with the other variables at want, and asserts each
// offers want[variable]. TestDashboardQueries checks the other variables.
func checkK8sLabelVariables(t *testing.T, want map[string]string) {
	t.Helper()
	lvs, err := dashboards.LoadLabelVariables(filepath.Join(repoRoot, "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	vars := dashboards.AllValues()
	for k, v := range want {
		vars[k] = regexp.QuoteMeta(v)
	}
	checked := 0
	for _, lv := range lvs {
		if !strings.HasPrefix(lv.Label, "k8s_") {
			continue
		}
		// This test feeds the kernel receiver's series only; a variable
		// read from another receiver's metric (the Pod health dashboard's
		// cgroup_* series) has nothing enriched to offer here.
		if !strings.Contains(lv.Selector, "kernel_") {
			t.Logf("variable %s/%s not checked here: its query (%s) reads no kernel_* series, which is all this test feeds", lv.File, lv.Name, lv.Selector)
			continue
		}
		w, ok := want[lv.Name]
		if !ok {
			t.Errorf("variable %s/%s on %s: no value to expect (add it to the test)", lv.File, lv.Name, lv.Label)
			continue
		}
		q := url.Values{}
		q.Set("match[]", dashboards.Substitute(lv.Selector, vars))
		var resp struct {
			Data []string `json:"data"`
		}
		Eventually(t, 30*time.Second, func() (bool, string) {
			if err := getJSON(PrometheusURL+"/api/v1/label/"+lv.Label+"/values?"+q.Encode(), nil, &resp); err != nil {
				return false, err.Error()
			}
			return slices.Contains(resp.Data, w), fmt.Sprintf("variable %s/%s: label_values(%s, %s) = %v, want it to offer %q",
				lv.File, lv.Name, q.Get("match[]"), lv.Label, resp.Data, w)
		})
		checked++
	}
	if checked == 0 {
		t.Error("no dashboard variable on a k8s_* label")
	}
}
