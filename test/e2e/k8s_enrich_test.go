// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-otel/vigil/internal/syncbuf"
)

// podFixture is a pod the test creates with the owner chain a Deployment
// controller would make (Deployment → ReplicaSet → Pod), since none runs.
type podFixture struct {
	namespace, name, node, ip, app string
}

// TestK8sEnrichmentByConnection runs vigil with the chart's rendered agent
// configuration, authenticated to the real API server as the agent's
// service account, and sends OTLP/HTTP from a network namespace whose
// addresses are pod IPs. Data from the pod on the agent's node carries that
// pod's metadata; data from a pod on another node carries none (the agent
// watches only its node's pods).
func TestK8sEnrichmentByConnection(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	cp := startControlPlane(t)

	// The chart's agent, without the kernel receiver and span metrics (this
	// test is about k8s_attributes on OTLP), its exporters replaced by the
	// debug exporter (vigil's log is read back).
	cfg := chartAgentConfig(t, cp, []string{"agent.kernel.enabled=false", "spanMetrics.enabled=false"})
	cfg["exporters"] = map[string]any{"debug": map[string]any{"verbosity": "detailed"}}
	for _, p := range cfg["service"].(map[string]any)["pipelines"].(map[string]any) {
		p.(map[string]any)["exporters"] = []any{"debug"}
	}

	// Addresses: a /24 no route of this host uses, the agent on .1 (its
	// "pod IP"), the pods on .5 (node-1, the agent's node) and .6 (node-2).
	subnet := freeSubnet(t)
	agentIP, localIP, remoteIP := subnet+".1", subnet+".5", subnet+".6"
	netns := makeNetns(t, agentIP, localIP, remoteIP)

	shop := "shop"
	cp.createNamespace(t, shop)
	cp.createNodes(t, "node-1", "node-2")
	local := podFixture{namespace: shop, name: "checkout-7d9f8b6c5d-x2v4q", node: "node-1", ip: localIP, app: "checkout"}
	remote := podFixture{namespace: shop, name: "payments-5c6d7e8f9a-k8j7h", node: "node-2", ip: remoteIP, app: "payments"}
	localUID := cp.createPod(t, local)
	cp.createPod(t, remote)

	log := startChartAgent(t, cp, cfg, agentIP, "node-1").log

	// One span, one gauge and one log record from each pod's address.
	for _, p := range []podFixture{local, remote} {
		for _, signal := range []string{"traces", "metrics", "logs"} {
			body := otlpJSON(signal, "marker-"+p.app)
			out, err := exec.Command("ip", "netns", "exec", netns, "curl", "-sS", "--fail-with-body", "--interface", p.ip,
				"-H", "Content-Type: application/json", "--data-binary", body,
				fmt.Sprintf("http://%s:4318/v1/%s", agentIP, signal)).CombinedOutput()
			if err != nil {
				t.Fatalf("OTLP %s from %s: %v\n%s", signal, p.ip, err, out)
			}
		}
	}

	// The debug exporter prints each resource's attributes before its
	// spans/metrics/logs; three resources carry each marker.
	blocks := func(marker string) []string {
		var got []string
		for _, b := range strings.Split(log.String(), "ResourceSpans #") {
			for _, bb := range strings.Split(b, "ResourceMetrics #") {
				for _, bbb := range strings.Split(bb, "ResourceLog #") {
					if strings.Contains(bbb, "Str("+marker+")") {
						got = append(got, bbb)
					}
				}
			}
		}
		return got
	}
	waitFor(t, 60*time.Second, "vigil prints the six resources", func() bool {
		return len(blocks("marker-checkout")) >= 3 && len(blocks("marker-payments")) >= 3
	})
	want := map[string]string{
		"k8s.pod.name":        local.name,
		"k8s.pod.uid":         localUID,
		"k8s.namespace.name":  shop,
		"k8s.deployment.name": local.app,
		"k8s.node.name":       "node-1",
	}
	t.Logf("a resource from pod %s, as vigil exported it:\n%s", local.name, blocks("marker-checkout")[0])
	for _, b := range blocks("marker-checkout") {
		for k, v := range want {
			if !strings.Contains(b, fmt.Sprintf("%s: Str(%s)", k, v)) {
				t.Errorf("data from pod %s (%s) lacks %s=%s:\n%s", local.name, local.ip, k, v, b)
			}
		}
	}
	// The prometheus receiver discovered the annotated pod of this node
	// (its target is the pod IP and the annotated port; nothing listens
	// there, so its up is 0) and not the one of node-2: the field selector
	// on spec.nodeName, with the chart's role.
	scrapeTarget := func(ip string) int {
		n := 0
		for _, b := range strings.Split(log.String(), "ResourceMetrics #") {
			if strings.Contains(b, "service.instance.id: Str("+ip+":9464)") && strings.Contains(b, "service.name: Str(kubernetes-pods)") {
				n++
			}
		}
		return n
	}
	waitFor(t, 60*time.Second, "vigil scrapes the annotated pod of its node", func() bool { return scrapeTarget(localIP) > 0 })
	if n := scrapeTarget(remoteIP); n > 0 {
		t.Errorf("vigil scraped %s, a pod of another node (%d times)", remoteIP, n)
	}
	// The chart's role is enough for this configuration: no list or watch
	// was refused (client-go logs "forbidden" for a refused informer).
	if strings.Contains(log.String(), "forbidden") {
		t.Errorf("the API server refused a request of the agent:\n%s", log.String())
	}
	for _, b := range blocks("marker-payments") {
		if strings.Contains(b, "k8s.pod.name") || strings.Contains(b, remote.name) {
			t.Errorf("data from pod %s on node-2 was enriched by the node-1 agent:\n%s", remote.name, b)
		}
	}
}

// createPod creates a Deployment, its ReplicaSet and one pod owned by it on
// p.node, then sets the pod's IP through the status subresource (there is
// no kubelet). It returns the pod's UID.
func (cp *controlPlane) createPod(t *testing.T, p podFixture) string {
	t.Helper()
	return cp.createOwnedPod(t, p, cp.createOwners(t, p))
}

// createOwners creates the Deployment p.app and its ReplicaSet
// <app>-<hash> (the hash is the second part of p.name), owned as the
// Deployment controller would own it, and returns the ReplicaSet's UID.
func (cp *controlPlane) createOwners(t *testing.T, p podFixture) string {
	t.Helper()
	hash := strings.Split(p.name, "-")[1]
	dep := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: app, image: example.invalid/app:1}]}
`, p.app, p.namespace)
	depUID := strings.TrimSpace(string(cp.kubectlAdmin(t, []byte(dep), "create", "-f", "-", "-o", "jsonpath={.metadata.uid}")))
	rs := fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: %[1]s-%[3]s
  namespace: %[2]s
  labels: {app: %[1]s, pod-template-hash: %[3]s}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: %[1]s, uid: %[4]s, controller: true}]
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s, pod-template-hash: %[3]s}}
  template:
    metadata: {labels: {app: %[1]s, pod-template-hash: %[3]s}}
    spec: {containers: [{name: app, image: example.invalid/app:1}]}
`, p.app, p.namespace, hash, depUID)
	return strings.TrimSpace(string(cp.kubectlAdmin(t, []byte(rs), "create", "-f", "-", "-o", "jsonpath={.metadata.uid}")))
}

// createOwnedPod creates pod p owned by the ReplicaSet of UID rsUID and
// sets its phase, IP and start time through the status subresource, as the
// kubelet would. It returns the pod's UID.
func (cp *controlPlane) createOwnedPod(t *testing.T, p podFixture, rsUID string) string {
	t.Helper()
	hash := strings.Split(p.name, "-")[1]
	pod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[5]s
  namespace: %[2]s
  labels: {app: %[1]s, pod-template-hash: %[3]s}
  annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9464", prometheus.io/path: /metrics}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: %[1]s-%[3]s, uid: %[4]s, controller: true}]
spec:
  nodeName: %[6]s
  containers: [{name: app, image: example.invalid/app:1}]
`, p.app, p.namespace, hash, rsUID, p.name, p.node)
	uid := strings.TrimSpace(string(cp.kubectlAdmin(t, []byte(pod), "create", "-f", "-", "-o", "jsonpath={.metadata.uid}")))
	status := fmt.Sprintf(`{"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}],"startTime":%q}}`,
		p.ip, p.ip, time.Now().UTC().Format(time.RFC3339))
	cp.kubectlAdmin(t, nil, "-n", p.namespace, "patch", "pod", p.name, "--subresource=status", "--type=merge", "-p", status)
	return uid
}

// renderedConfigMap returns data["config.yaml"] of the named ConfigMap in
// a rendered manifest.
func renderedConfigMap(t *testing.T, manifest []byte, name string) string {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&obj); err != nil {
			t.Fatalf("no ConfigMap %s with config.yaml in the rendered chart (%v)", name, err)
		}
		if obj.Kind == "ConfigMap" && obj.Metadata.Name == name && obj.Data["config.yaml"] != "" {
			return obj.Data["config.yaml"]
		}
	}
}

// freeSubnet picks a 10.x.y.0/24 that no route or address of this host
// overlaps, so the test's network namespace cannot capture other traffic.
func freeSubnet(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	var nets []*net.IPNet
	for _, f := range strings.Fields(string(out)) {
		if _, n, err := net.ParseCIDR(f); err == nil {
			nets = append(nets, n)
		} else if ip := net.ParseIP(f); ip != nil && ip.To4() != nil {
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)})
		}
	}
	for y := 0; y < 256; y++ {
		cand := net.IPv4(10, 243, byte((y*37+11)%256), 0)
		cn := &net.IPNet{IP: cand, Mask: net.CIDRMask(24, 32)}
		free := true
		for _, n := range nets {
			if n.Contains(cand) || cn.Contains(n.IP) {
				free = false
				break
			}
		}
		if free {
			return strings.TrimSuffix(cand.String(), ".0")
		}
	}
	t.Fatal("no free 10.243.y.0/24")
	return ""
}

// makeNetns makes a network namespace joined to this one by a veth pair:
// hostIP on this side, podIPs inside. It is removed when the test ends.
func makeNetns(t *testing.T, hostIP string, podIPs ...string) string {
	t.Helper()
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	ns, host, peer := "vigil-k8s-"+suffix, "vk8s"+suffix, "vk8sp"+suffix
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = exec.Command("ip", "netns", "del", ns).Run()
	})
	run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	run("ip", "link", "set", peer, "netns", ns)
	run("ip", "addr", "add", hostIP+"/24", "dev", host)
	run("ip", "link", "set", host, "up")
	for _, ip := range podIPs {
		run("ip", "netns", "exec", ns, "ip", "addr", "add", ip+"/24", "dev", peer)
	}
	run("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
	run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns
}

// chartAgentConfig installs the chart (release "vigil" in cp.ns, for its
// ServiceAccount and RBAC) with sets and the backends at their loopback
// addresses, and returns its rendered agent configuration with only what a
// host outside a pod needs changed: the API server is reached with the
// agent's kubeconfig (auth_type kubeConfig instead of the in-cluster
// serviceAccount files), the queue directory is a temp dir, and
// k8s_attributes waits for its first sync before the receivers start.
func chartAgentConfig(t *testing.T, cp *controlPlane, sets []string) map[string]any {
	t.Helper()
	return hostConfig(t, renderedConfigMap(t, installChart(t, cp, sets), "vigil-agent"))
}

// installChart installs the chart as chartAgentConfig says and returns the
// rendered manifest.
func installChart(t *testing.T, cp *controlPlane, sets []string) []byte {
	t.Helper()
	sets = append([]string{
		"backends.jaeger.endpoint=" + JaegerGRPC,
		"backends.prometheus.endpoint=" + PrometheusURL + "/api/v1/write",
		"backends.loki.endpoint=" + LokiPushURL,
	}, sets...)
	if _, err := cp.helm(append([]string{"install", "vigil", chartDir(), "--namespace", cp.ns}, setArgs(sets)...)...); err != nil {
		t.Fatal(err)
	}
	manifest, err := cp.helm(append([]string{"template", "vigil", chartDir(), "--namespace", cp.ns}, setArgs(sets)...)...)
	if err != nil {
		t.Fatal(err)
	}
	return manifest
}

// hostConfig parses a rendered collector configuration and changes what
// chartAgentConfig says.
func hostConfig(t *testing.T, rendered string) map[string]any {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(rendered), &cfg); err != nil {
		t.Fatalf("rendered config: %v\n%s", err, rendered)
	}
	if k8s, ok := cfg["processors"].(map[string]any)["k8s_attributes"].(map[string]any); ok {
		k8s["auth_type"] = "kubeConfig"
		k8s["wait_for_metadata"] = true
		k8s["wait_for_metadata_timeout"] = "60s"
	}
	// The prometheus receiver's pod discovery reaches the API server the
	// same way (kubeconfig_file instead of the in-cluster files; vigil
	// expands the variable, which startChartAgent sets).
	if prom, ok := cfg["receivers"].(map[string]any)["prometheus"].(map[string]any); ok {
		for _, sc := range asList(prom["config"].(map[string]any)["scrape_configs"]) {
			for _, sd := range asList(sc.(map[string]any)["kubernetes_sd_configs"]) {
				sd.(map[string]any)["kubeconfig_file"] = "${env:KUBECONFIG}"
			}
		}
	}
	queueDir := t.TempDir()
	queue := cfg["extensions"].(map[string]any)["file_storage/queue"].(map[string]any)
	queue["directory"] = queueDir
	if c, ok := queue["compaction"].(map[string]any); ok {
		c["directory"] = queueDir
	}
	return cfg
}

// vigilAgent is a vigil process started by startChartAgent.
type vigilAgent struct {
	log *syncbuf.Buffer
	cmd *exec.Cmd
}

// startChartAgent runs vigil with cfg as the chart's agent pod on node
// with pod IP ip would run (the downward-API variables of the DaemonSet),
// authenticated as the agent's service account, until the test ends.
func startChartAgent(t *testing.T, cp *controlPlane, cfg map[string]any, ip, node string) *vigilAgent {
	t.Helper()
	return startChartAgentWith(t, cfg, ip, "4318", []string{
		"KUBECONFIG=" + cp.env["VIGIL_K8S_AGENT_KUBECONFIG"],
		"K8S_NODE_NAME=" + node,
		"K8S_POD_NAME=vigil-agent-abcde",
		"K8S_NAMESPACE=" + cp.ns,
	})
}

// startChartAgentWith runs vigil with cfg and env (plus K8S_POD_IP=ip)
// until the test ends, and waits for its receiver on ip:port (the chart's
// OTLP/HTTP port 4318 for an agent, OTLP/gRPC 4317 for a gateway).
// Receivers start last, after k8s_attributes has
// synced its first pod list (wait_for_metadata), so data sent from then on
// finds the pods.
func startChartAgentWith(t *testing.T, cfg map[string]any, ip, port string, env []string) *vigilAgent {
	t.Helper()
	cfgBytes, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(cfgPath, cfgBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"--config", cfgPath}
	if g := os.Getenv("VIGIL_E2E_FEATURE_GATES"); g != "" {
		// For A/B runs of a vigil default, e.g.
		// -processor.k8sattributes.ShareProcessorBetweenPipelines.
		args = append(args, "--feature-gates="+g)
	}
	cmd := exec.CommandContext(ctx, vigilBin, args...)
	cmd.Env = append(append(os.Environ(), "K8S_POD_IP="+ip), env...)
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting vigil: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			log := out.String()
			t.Logf("vigil's warnings and errors (%s; up to 40, without stack traces):\n%s", ip, problems(log, 40))
			t.Logf("vigil output (%s):\n%s", ip, tail(log, 80))
		}
	})
	waitFor(t, 90*time.Second, "vigil's OTLP receiver on "+ip+":"+port, func() bool {
		select {
		case <-exited:
			t.Fatalf("vigil exited:\n%s", out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return &vigilAgent{log: out, cmd: cmd}
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// otlpJSON is an OTLP/JSON request with one span, gauge point or log
// record, its resource carrying marker as service.name.
func otlpJSON(signal, marker string) string {
	now := time.Now().UnixNano()
	res := fmt.Sprintf(`{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]}`, marker)
	var s string
	switch signal {
	case "traces":
		s = fmt.Sprintf(`{"resourceSpans":[{"resource":%s,"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"checkout","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`, res, now-1e6, now)
	case "metrics":
		s = fmt.Sprintf(`{"resourceMetrics":[{"resource":%s,"scopeMetrics":[{"metrics":[{"name":"e2e.k8s.gauge","gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"%d"}]}}]}]}]}`, res, now)
	default:
		s = fmt.Sprintf(`{"resourceLogs":[{"resource":%s,"scopeLogs":[{"logRecords":[{"timeUnixNano":"%d","body":{"stringValue":"hello"}}]}]}]}`, res, now)
	}
	return s
}

// asList returns v as a list, or nil.
func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
