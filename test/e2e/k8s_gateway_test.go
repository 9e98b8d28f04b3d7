// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostAddrs puts ips (/24) on a veth pair of this host's network
// namespace, removed when the test ends: addresses of "pods" that are
// processes on this host, outside the loopback range.
func hostAddrs(t *testing.T, ips ...string) {
	t.Helper()
	suffix := strconv.Itoa(os.Getpid() % 100000)
	dev, peer := "vgw"+suffix, "vgwp"+suffix
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("ip", "link", "add", dev, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dev).Run() })
	for _, ip := range ips {
		run("ip", "addr", "add", ip+"/24", "dev", dev)
	}
	run("ip", "link", "set", dev, "up")
	run("ip", "link", "set", peer, "up")
}

// gatewaySlice is the EndpointSlice the EndpointSlice controller would make
// for the chart's headless gateway Service with ready gateway pods at ips.
func gatewaySlice(ns string, ips ...string) []byte {
	var eps strings.Builder
	for i, ip := range ips {
		fmt.Fprintf(&eps, "  - addresses: [%q]\n    conditions: {ready: true, serving: true, terminating: false}\n    nodeName: node-%d\n    targetRef: {kind: Pod, namespace: %s, name: vigil-gateway-%d}\n", ip, i+1, ns, i)
	}
	if len(ips) == 0 {
		eps.WriteString("  []\n")
	}
	return fmt.Appendf(nil, `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: vigil-gateway-headless-abcde
  namespace: %s
  labels:
    kubernetes.io/service-name: vigil-gateway-headless
    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
addressType: IPv4
ports:
  - {name: otlp-grpc, port: 4317, protocol: TCP}
endpoints:
%s`, ns, eps.String())
}

var traceIDLine = regexp.MustCompile(`Trace ID\s*:\s*([0-9a-f]{32})`)

// traceIDs returns the trace IDs a debug exporter (verbosity detailed)
// printed, with the number of spans of each.
func traceIDs(log string) map[string]int {
	ids := map[string]int{}
	for _, m := range traceIDLine.FindAllStringSubmatch(log, -1) {
		ids[m[1]]++
	}
	return ids
}

// TestK8sGatewayTier runs the chart's two tiers against the real API
// server: an agent whose load_balancing exporters find the gateways with
// the Kubernetes resolver (gateway.resolver=kubernetes: the EndpointSlices of
// the chart's headless gateway Service, watched as the agent's service
// account with the chart's Role) and two
// gateways, each exporting to Jaeger and printing what it got. Every span
// of a trace lands on one gateway, both gateways get traces, and after one
// gateway's endpoint is removed from the EndpointSlice all traffic goes to
// the other, with every trace whole in Jaeger. Then a gateway is killed
// while its endpoint is still listed: the agent's durable queue keeps
// retrying and, once the endpoint is removed, delivers every trace through
// the other gateway.
func TestK8sGatewayTier(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: the gateways' addresses are made on a veth pair, which needs root (CI runs e2e as root)")
	}
	cp := startControlPlane(t)
	subnet := freeSubnet(t)
	agentIP, gwIPs := subnet+".1", []string{subnet + ".2", subnet + ".3"}
	hostAddrs(t, append([]string{agentIP}, gwIPs...)...)

	// gateway.resolver=kubernetes: the agents' load_balancing exporters
	// watch the EndpointSlices of the headless Service, with the Role the
	// chart gives them for it.
	manifest := installChart(t, cp, []string{
		"gateway.enabled=true", "gateway.resolver=kubernetes",
		"spanMetrics.enabled=false", "agent.kernel.enabled=false", "agent.cgroup.enabled=false",
	})
	agentCfg := hostConfig(t, renderedConfigMap(t, manifest, "vigil-agent"))
	// Pod logs (loki/pods) and scraped series go straight to the backends;
	// traces, metrics and logs go through the gateways.
	for _, signal := range []string{"traces", "metrics", "logs"} {
		name := "load_balancing/" + signal
		e, _ := agentCfg["exporters"].(map[string]any)[name].(map[string]any)
		res, _ := e["resolver"].(map[string]any)
		k8s, _ := res["k8s"].(map[string]any)
		if k8s["service"] != "vigil-gateway-headless."+cp.ns {
			t.Fatalf("the chart's agent exporter %s is not load_balancing with the Kubernetes resolver: %v", name, e)
		}
	}
	agentUser := "system:serviceaccount:" + cp.ns + ":" + cp.agentSA
	for _, verb := range []string{"list", "watch"} {
		if !cp.canI(t, agentUser, cp.ns, verb, "endpointslices.discovery.k8s.io") {
			t.Errorf("the agent cannot %s EndpointSlices in %s", verb, cp.ns)
		}
		if cp.canI(t, agentUser, "default", verb, "endpointslices.discovery.k8s.io") {
			t.Errorf("the agent can %s EndpointSlices outside its namespace", verb)
		}
	}
	if cp.canI(t, agentUser, cp.ns, "update", "endpointslices.discovery.k8s.io") {
		t.Error("the agent can update EndpointSlices")
	}
	cp.kubectlAdmin(t, gatewaySlice(cp.ns, gwIPs...), "apply", "-f", "-")

	gwLogs := make([]*vigilAgent, len(gwIPs))
	for i, ip := range gwIPs {
		cfg := hostConfig(t, renderedConfigMap(t, manifest, "vigil-gateway"))
		cfg["exporters"].(map[string]any)["debug"] = map[string]any{"verbosity": "detailed"}
		tr := cfg["service"].(map[string]any)["pipelines"].(map[string]any)["traces"].(map[string]any)
		tr["exporters"] = append(tr["exporters"].([]any), "debug")
		gwLogs[i] = startChartAgentWith(t, cfg, ip, "4317", []string{"K8S_POD_NAME=vigil-gateway-" + strconv.Itoa(i), "K8S_NAMESPACE=" + cp.ns})
	}
	agent := startChartAgent(t, cp, agentCfg, agentIP, "node-1")
	agentMetrics := fmt.Sprintf("http://%s:8888/metrics", agentIP)
	// backends reports whether the agent's Kubernetes resolvers have want
	// backends.
	backends := func(want float64) (bool, string) {
		fams, err := scrape(agentMetrics)
		if err != nil {
			return false, err.Error()
		}
		var got []float64
		for name, f := range fams {
			if strings.HasPrefix(name, "otelcol_loadbalancer_num_backends") && !strings.Contains(name, "updates") {
				for _, m := range f.GetMetric() {
					got = append(got, m.GetGauge().GetValue())
				}
			}
		}
		// One series per resolver kind: the three exporters' resolvers
		// record with the same attributes.
		ok := len(got) > 0
		for _, v := range got {
			ok = ok && v == want
		}
		return ok, fmt.Sprintf("the agent's resolvers have %v backends, want %v", got, want)
	}
	Eventually(t, 60*time.Second, func() (bool, string) { return backends(2) })

	const traces, children = 100, 2
	sfx := RandomSuffix()[:6]
	send := func(service string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, telemetrygen, "traces", "--otlp-endpoint", agentIP+":4317", "--otlp-insecure",
			"--service", service, "--traces", strconv.Itoa(traces), "--child-spans", strconv.Itoa(children), "--rate", "100").CombinedOutput()
		if err != nil {
			t.Fatalf("telemetrygen: %v\n%s", err, tail(string(out), 20))
		}
	}
	// whole waits until Jaeger holds every trace of service with all its
	// spans, and returns their IDs.
	whole := func(service string) map[string]bool {
		t.Helper()
		return waitWholeTraces(t, 90*time.Second, service, traces, 1+children)
	}
	// where maps each trace of ids to the gateways that printed spans of
	// it, and checks each was printed whole by exactly one gateway.
	where := func(ids map[string]bool) []int {
		t.Helper()
		perGW := make([]int, len(gwLogs))
		seen := make([]map[string]int, len(gwLogs))
		for i, g := range gwLogs {
			seen[i] = traceIDs(g.log.String())
		}
		for id := range ids {
			var on []int
			for i := range gwLogs {
				if n := seen[i][id]; n > 0 {
					on = append(on, i)
					if n != 1+children {
						t.Errorf("gateway %d printed %d spans of trace %s, want %d", i, n, id, 1+children)
					}
				}
			}
			if len(on) != 1 {
				t.Errorf("trace %s landed on gateways %v, want exactly one", id, on)
				continue
			}
			perGW[on[0]]++
		}
		return perGW
	}

	send("lb-k8s-1-" + sfx)
	ids1 := whole("lb-k8s-1-" + sfx)
	// Each gateway's debug exporter has printed its share once Jaeger
	// has everything (both export from the same batch).
	Eventually(t, 30*time.Second, func() (bool, string) {
		n := 0
		for _, g := range gwLogs {
			for id := range traceIDs(g.log.String()) {
				if ids1[id] {
					n++
				}
			}
		}
		return n == traces, fmt.Sprintf("the gateways printed %d of %d traces", n, traces)
	})
	per1 := where(ids1)
	t.Logf("two endpoints: traces per gateway %v", per1)
	for i, n := range per1 {
		if n == 0 {
			t.Errorf("gateway %d (%s) got no trace: the agent does not spread over both endpoints", i, gwIPs[i])
		}
	}

	// Gateway 1's endpoint goes (a scale-down: the controller rewrites the
	// slice); the agent's resolver follows the watch.
	cp.kubectlAdmin(t, gatewaySlice(cp.ns, gwIPs[0]), "apply", "-f", "-")
	Eventually(t, 60*time.Second, func() (bool, string) { return backends(1) })
	send("lb-k8s-2-" + sfx)
	ids2 := whole("lb-k8s-2-" + sfx)
	Eventually(t, 30*time.Second, func() (bool, string) {
		n := 0
		for id := range traceIDs(gwLogs[0].log.String()) {
			if ids2[id] {
				n++
			}
		}
		return n == traces, fmt.Sprintf("gateway 0 printed %d of %d traces sent after the removal", n, traces)
	})
	per2 := where(ids2)
	t.Logf("after gateway 1's endpoint was removed: traces per gateway %v", per2)
	if per2[0] != traces || per2[1] != 0 {
		t.Errorf("after the removal traces per gateway %v, want all %d on gateway 0", per2, traces)
	}
	// Nothing lost across the change: both services are whole in Jaeger
	// (checked above), and no send failed in the agent.
	if f := agentSelf(t, agentMetrics, "otelcol_exporter_send_failed_spans"); f != 0 {
		t.Errorf("the agent failed to send %v spans", f)
	}

	// A gateway that dies before its endpoint goes (a crash, or a
	// scale-down the agent hears of late). Gateway 1's endpoint comes back,
	// gateway 0 is killed, traces are sent: the agent's sends to gateway 0
	// fail and the batches wait in its durable queue, retrying; once gateway
	// 0's endpoint is removed, the retries route them to gateway 1. Nothing
	// is lost. A batch that was split between the two gateways is retried
	// whole, so part of gateway 1's share may arrive twice: at least once,
	// and the duplicates are logged.
	cp.kubectlAdmin(t, gatewaySlice(cp.ns, gwIPs...), "apply", "-f", "-")
	Eventually(t, 60*time.Second, func() (bool, string) { return backends(2) })
	if err := gwLogs[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	retrying := func() int { return strings.Count(agent.log.String(), "Exporting failed. Will retry the request") }
	retries0 := retrying()
	service3 := "lb-k8s-3-" + sfx
	send(service3)
	// The endpoint goes only once a send to the dead gateway has failed and
	// waits for its retry, so the batches take the failure path.
	waitFor(t, 60*time.Second, "the agent retrying the sends to the killed gateway 0", func() bool { return retrying() > retries0 })
	cp.kubectlAdmin(t, gatewaySlice(cp.ns, gwIPs[1]), "apply", "-f", "-")
	var dups int
	Eventually(t, 120*time.Second, func() (bool, string) {
		var resp struct {
			Data []struct {
				Spans []struct {
					SpanID string `json:"spanID"`
				} `json:"spans"`
			} `json:"data"`
		}
		if err := getJSON(JaegerQueryURL+"/api/traces?lookback=1h&limit=1000&service="+service3, nil, &resp); err != nil {
			return false, err.Error()
		}
		whole := 0
		dups = 0
		for _, tr := range resp.Data {
			ids := map[string]bool{}
			for _, s := range tr.Spans {
				ids[s.SpanID] = true
			}
			if len(ids) == 1+children {
				whole++
			}
			dups += len(tr.Spans) - len(ids)
		}
		return len(resp.Data) == traces && whole == traces, fmt.Sprintf("Jaeger has %d traces of %s, %d with all %d spans, want %d", len(resp.Data), service3, whole, 1+children, traces)
	})
	t.Logf("gateway 0 killed before its endpoint was removed: all %d traces whole in Jaeger, %d spans delivered twice, %d retries logged by the agent", traces, dups, retrying()-retries0)
	if f := agentSelf(t, agentMetrics, "otelcol_exporter_send_failed_spans"); f != 0 {
		t.Errorf("the agent failed to send %v spans", f)
	}
}

// agentSelf sums the agent's self-metric family whose name starts with
// prefix.
func agentSelf(t *testing.T, url, prefix string) float64 {
	t.Helper()
	fams, err := scrape(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	var sum float64
	for name, f := range fams {
		if strings.HasPrefix(name, prefix) {
			sum += sumFamily(f, nil)
		}
	}
	return sum
}
