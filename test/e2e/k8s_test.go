// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// controlPlane is a real etcd + kube-apiserver on 127.0.0.1, started by
// scripts/k8s.sh for one test and stopped when it ends. There is no kubelet,
// scheduler or controller-manager: objects are admitted, defaulted, stored
// and authorized for real, but no pod runs.
type controlPlane struct {
	env       map[string]string // what `scripts/k8s.sh env` prints
	kubectl   string
	ns        string // the namespace the chart is installed in
	agentSA   string // the chart's agent ServiceAccount (release "vigil")
	gatewaySA string // the chart's gateway ServiceAccount
}

// startControlPlane starts etcd and kube-apiserver with their state in a
// temporary directory. Without the binaries (`bash scripts/k8s.sh install`)
// the test fails in CI (CI=true) and skips elsewhere.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	script := filepath.Join(repoRoot, "scripts", "k8s.sh")
	run := t.TempDir()
	k8sScript := func(args ...string) ([]byte, error) {
		cmd := exec.Command("bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "VIGIL_RUN="+run)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("scripts/k8s.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
		}
		os.Stderr.Write(stderr.Bytes())
		return out, nil
	}
	out, err := k8sScript("env")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{"VIGIL_ETCD", "VIGIL_KUBE_APISERVER", "VIGIL_KUBECTL"} {
		if _, err := os.Stat(env[k]); err != nil {
			msg := fmt.Sprintf("%s not found (%v): build the control plane with `bash scripts/k8s.sh install`", k, err)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	t.Cleanup(func() {
		if _, err := k8sScript("stop"); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	if _, err := k8sScript("start"); err != nil {
		t.Fatal(err)
	}
	return &controlPlane{
		env:       env,
		kubectl:   env["VIGIL_KUBECTL"],
		ns:        env["VIGIL_K8S_NAMESPACE"],
		agentSA:   env["VIGIL_K8S_AGENT_SA"],
		gatewaySA: env["VIGIL_K8S_GATEWAY_SA"],
	}
}

// run runs a command with the admin kubeconfig, stdin as its input, and
// returns its stdout and an error that carries its stderr.
func (cp *controlPlane) run(stdin []byte, kubeconfig, bin string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// createNamespace creates namespace ns with its default service account
// (kube-controller-manager, which would create it, does not run here).
func (cp *controlPlane) createNamespace(t *testing.T, ns string) {
	t.Helper()
	cp.kubectlAdmin(t, nil, "create", "namespace", ns)
	cp.kubectlAdmin(t, nil, "-n", ns, "create", "serviceaccount", "default")
}

// createNodes creates a Node object for each name.
func (cp *controlPlane) createNodes(t *testing.T, names ...string) {
	t.Helper()
	for _, node := range names {
		cp.kubectlAdmin(t, []byte(fmt.Sprintf("apiVersion: v1\nkind: Node\nmetadata:\n  name: %s\n", node)), "create", "-f", "-")
	}
}

// kubectl runs kubectl as the admin.
func (cp *controlPlane) kubectlAdmin(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	out, err := cp.run(stdin, cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"], cp.kubectl, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// helm runs the pinned Helm (VIGIL_HELM_BIN, or scripts/helm.sh) against
// the control plane as the admin.
func (cp *controlPlane) helm(args ...string) ([]byte, error) {
	bin := os.Getenv("VIGIL_HELM_BIN")
	if bin == "" {
		out, err := exec.Command("bash", filepath.Join(repoRoot, "scripts", "helm.sh"), "path").Output()
		if err != nil {
			return nil, fmt.Errorf("scripts/helm.sh path: %w", err)
		}
		bin = strings.TrimSpace(string(out))
	}
	return cp.run(nil, cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"], bin, args...)
}

// canI asks the API server, impersonating user, whether verb on resource is
// allowed (`kubectl auth can-i`, which exits 1 for "no").
func (cp *controlPlane) canI(t *testing.T, user, namespace, verb, resource string) bool {
	t.Helper()
	args := []string{"auth", "can-i", verb, resource, "--as=" + user}
	if namespace == "" {
		args = append(args, "--all-namespaces")
	} else {
		args = append(args, "-n", namespace)
	}
	cmd := exec.Command(cp.kubectl, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"])
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // warnings, e.g. "resource 'nodes' is not namespace scoped"
	out, err := cmd.Output()
	answer := strings.TrimSpace(string(out))
	switch {
	case err == nil && answer == "yes":
		return true
	case answer == "no" || strings.HasPrefix(answer, "no - "):
		return false
	}
	t.Fatalf("kubectl %s: %v: %s\n%s", strings.Join(args, " "), err, out, stderr.String())
	return false
}

// chartDir is the chart under test.
func chartDir() string { return filepath.Join(repoRoot, "deploy", "helm", "vigil") }

// monitoringCRDs registers the Prometheus Operator kinds the chart renders
// (ServiceMonitor, PrometheusRule) so the server accepts them. The schemas
// are open (x-kubernetes-preserve-unknown-fields): the operator's own CRD
// manifests are not available here, so their fields are checked by
// deploy/helm_test.go, not by this server.
var monitoringCRDs = openCRD("servicemonitors", "ServiceMonitor") + "---\n" + openCRD("prometheusrules", "PrometheusRule")

// openCRD is a namespaced monitoring.coreos.com/v1 kind with an open schema.
func openCRD(plural, kind string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[1]s.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: %[2]s, listKind: %[2]sList, plural: %[1]s, singular: %[3]s}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, plural, kind, strings.ToLower(kind))
}

// chartOptions are the value sets of deploy/README.md's option table, each
// rendered and applied on its own, plus all of them at once.
var chartOptions = []struct {
	name string
	sets []string
}{
	{"defaults", nil},
	{"backends", []string{
		"backends.jaeger.endpoint=jaeger.tracing.svc:14250",
		"backends.prometheus.endpoint=http://mimir.metrics.svc:8080/api/v1/push",
		"backends.loki.endpoint=http://loki.logs.svc:3100/loki/api/v1/push",
	}},
	{"remote-write v1", []string{"backends.prometheus.protocol=v1"}},
	{"no hostPort", []string{"agent.otlp.hostPort=false"}},
	{"local service", []string{"agent.localService.enabled=true"}},
	{"no kernel receiver", []string{"agent.kernel.enabled=false"}},
	{"netAdmin", []string{"agent.kernel.netAdmin=true"}},
	{"privileged", []string{"agent.kernel.privileged=true"}},
	{"no ewma", []string{"agent.ewmaBaseline.enabled=false"}},
	{"resources", []string{"agent.resources.limits.memory=1Gi", "agent.resources.requests.memory=512Mi", "agent.resources.limits.cpu=500m"}},
	{"goMemLimitPercent", []string{"agent.goMemLimitPercent=70"}},
	{"config overrides", []string{"agent.config.processors.batch.timeout=2s", "gateway.enabled=true", "gateway.config.processors.batch.timeout=3s"}},
	{"no k8s attributes", []string{"k8sAttributes.enabled=false"}},
	{"no span metrics", []string{"spanMetrics.enabled=false"}},
	{"gateway", []string{"gateway.enabled=true"}},
	{"gateway without pdb", []string{"gateway.enabled=true", "gateway.pdb.enabled=false"}},
	{"gateway kubernetes resolver", []string{"gateway.enabled=true", "gateway.resolver=kubernetes"}},
	{"serviceMonitor", []string{"serviceMonitor.enabled=true", "gateway.enabled=true"}},
	{"prometheusRule", []string{"prometheusRule.enabled=true"}},
	{"no dashboards", []string{"dashboards.enabled=false"}},
	// The Secrets need not exist for a dry run. certManager is left out: no cert-manager CRDs here.
	{"hop security", []string{
		"gateway.enabled=true", "hopSecurity.token.enabled=true", "hopSecurity.token.secretName=vigil-hop-token",
		"hopSecurity.tls.enabled=true",
	}},
	{"everything", []string{
		"agent.localService.enabled=true", "agent.kernel.netAdmin=true", "agent.kernel.privileged=true",
		"gateway.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true",
		"backends.prometheus.protocol=v1",
	}},
}

func setArgs(sets []string) []string {
	var args []string
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return args
}

// appliedList is the List kubectl prints for `apply -o json`.
type appliedList struct {
	Items []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	} `json:"items"`
}

// TestK8sChart puts the Helm chart in front of a real kube-apiserver:
// every option of deploy/README.md rendered and applied with a server-side
// dry run (real admission, validation and defaulting), then a real
// `helm install` and `helm upgrade`, then the RBAC it installs checked with
// `kubectl auth can-i` and SelfSubjectRulesReviews.
func TestK8sChart(t *testing.T) {
	cp := startControlPlane(t)

	version := cp.kubectlAdmin(t, nil, "version", "-o", "json")
	var v struct {
		ServerVersion struct{ GitVersion string } `json:"serverVersion"`
	}
	if err := json.Unmarshal(version, &v); err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, version)
	}
	if want := cp.env["VIGIL_KUBE_VERSION"]; v.ServerVersion.GitVersion != want {
		t.Fatalf("server reports %q, want %q (the build's version ldflags)", v.ServerVersion.GitVersion, want)
	}
	cp.kubectlAdmin(t, []byte(monitoringCRDs), "apply", "-f", "-")
	cp.kubectlAdmin(t, nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")

	t.Run("server-side dry run", func(t *testing.T) {
		for _, o := range chartOptions {
			t.Run(o.name, func(t *testing.T) {
				args := append([]string{"template", "vigil", chartDir(), "--namespace", cp.ns}, setArgs(o.sets)...)
				manifest, err := cp.helm(args...)
				if err != nil {
					t.Fatal(err)
				}
				out := cp.kubectlAdmin(t, manifest, "apply", "--dry-run=server", "-n", cp.ns, "-o", "json", "-f", "-")
				var list appliedList
				if err := json.Unmarshal(out, &list); err != nil {
					t.Fatalf("kubectl apply -o json: %v\n%s", err, out)
				}
				if len(list.Items) == 0 {
					t.Fatal("the server returned no objects")
				}
				for _, it := range list.Items {
					if it.Kind != "DaemonSet" && it.Kind != "Deployment" {
						continue
					}
					// Defaulting ran: fields the chart leaves out come back
					// filled in by the server.
					var spec struct {
						RevisionHistoryLimit *int32 `json:"revisionHistoryLimit"`
						Template             struct {
							Spec struct {
								DNSPolicy     string `json:"dnsPolicy"`
								RestartPolicy string `json:"restartPolicy"`
							} `json:"spec"`
						} `json:"template"`
					}
					if err := json.Unmarshal(it.Spec, &spec); err != nil {
						t.Fatalf("%s %s spec: %v", it.Kind, it.Metadata.Name, err)
					}
					if spec.RevisionHistoryLimit == nil || spec.Template.Spec.DNSPolicy != "ClusterFirst" || spec.Template.Spec.RestartPolicy != "Always" {
						t.Errorf("%s %s was not defaulted by the server: %s", it.Kind, it.Metadata.Name, it.Spec)
					}
				}
			})
		}
	})

	// The control for the subtests above: a value Helm renders without
	// complaint but the API server refuses. `helm install --dry-run=server`
	// would exit 0 here; the server-side apply must not.
	t.Run("server rejects a bad quantity", func(t *testing.T) {
		manifest, err := cp.helm("template", "vigil", chartDir(), "--namespace", cp.ns, "--set", "agent.resources.requests.cpu=lots")
		if err != nil {
			t.Fatal(err)
		}
		out, err := cp.run(manifest, cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"], cp.kubectl, "apply", "--dry-run=server", "-n", cp.ns, "-f", "-")
		if err == nil {
			t.Fatalf("the server accepted cpu request %q:\n%s", "lots", out)
		}
		if !strings.Contains(err.Error(), "quantities must match the regular expression") {
			t.Errorf("want a quantity error from the server, got: %v", err)
		}
	})

	t.Run("helm install and upgrade", func(t *testing.T) {
		if _, err := cp.helm("install", "vigil", chartDir(), "--namespace", cp.ns); err != nil {
			t.Fatal(err)
		}
		// The upgrade adds the gateway tier, so both service accounts exist
		// for the RBAC checks below.
		if _, err := cp.helm(append([]string{"upgrade", "vigil", chartDir(), "--namespace", cp.ns},
			setArgs([]string{"gateway.enabled=true", "serviceMonitor.enabled=true", "prometheusRule.enabled=true"})...)...); err != nil {
			t.Fatal(err)
		}
		out, err := cp.helm("status", "vigil", "--namespace", cp.ns, "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Version int `json:"version"`
			Info    struct {
				Status string `json:"status"`
			} `json:"info"`
		}
		if err := json.Unmarshal(out, &st); err != nil {
			t.Fatalf("helm status: %v\n%s", err, out)
		}
		if st.Version != 2 || st.Info.Status != "deployed" {
			t.Errorf("helm status: revision %d %q, want revision 2 deployed", st.Version, st.Info.Status)
		}
		for _, obj := range []string{"daemonset/vigil-agent", "deployment/vigil-gateway", "servicemonitor/vigil-gateway",
			"configmap/vigil-agent", "configmap/vigil-gateway", "poddisruptionbudget/vigil-gateway"} {
			cp.kubectlAdmin(t, nil, "get", "-n", cp.ns, obj)
		}
	})
	if t.Failed() {
		t.FailNow() // the RBAC checks need the installed release
	}

	t.Run("rbac", func(t *testing.T) { checkRBAC(t, cp) })
}

// checkRBAC checks what the installed release's service accounts may do.
func checkRBAC(t *testing.T, cp *controlPlane) {
	// The workloads run as the accounts the tokens of scripts/k8s.sh name,
	// or every check below would be about the wrong account.
	podSA := func(kind, name string) string {
		return string(cp.kubectlAdmin(t, nil, "get", "-n", cp.ns, kind, name, "-o", "jsonpath={.spec.template.spec.serviceAccountName}"))
	}
	if got := podSA("daemonset", "vigil-agent"); got != cp.agentSA {
		t.Fatalf("the agent DaemonSet runs as %q, scripts/k8s.sh made a token for %q", got, cp.agentSA)
	}
	if got := podSA("deployment", "vigil-gateway"); got != cp.gatewaySA {
		t.Fatalf("the gateway Deployment runs as %q, scripts/k8s.sh made a token for %q", got, cp.gatewaySA)
	}
	agent := "system:serviceaccount:" + cp.ns + ":" + cp.agentSA
	gateway := "system:serviceaccount:" + cp.ns + ":" + cp.gatewaySA

	// What k8s_attributes, as the chart configures it (pod, namespace and
	// workload names, the node filter), lists and watches across all
	// namespaces: pods, and nothing else (the workload names come from the
	// owners' names; TestK8sEnrichmentByConnection runs with this role).
	for _, res := range []string{"pods"} {
		for _, verb := range []string{"get", "list", "watch"} {
			if !cp.canI(t, agent, "", verb, res) {
				t.Errorf("agent cannot %s %s cluster-wide", verb, res)
			}
		}
	}
	// Reading secrets, or writing anything, is refused: to both accounts.
	writes := []string{"create", "update", "patch", "delete", "deletecollection"}
	for _, user := range []string{agent, gateway} {
		for _, ns := range []string{"", cp.ns} {
			for _, verb := range []string{"get", "list", "watch"} {
				if cp.canI(t, user, ns, verb, "secrets") {
					t.Errorf("%s can %s secrets (namespace %q)", user, verb, ns)
				}
			}
			for _, res := range []string{"pods", "pods/exec", "pods/eviction", "configmaps", "secrets", "serviceaccounts/token",
				"deployments.apps", "daemonsets.apps", "namespaces", "nodes", "events", "events.events.k8s.io",
				"clusterroles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"} {
				for _, verb := range writes {
					if cp.canI(t, user, ns, verb, res) {
						t.Errorf("%s can %s %s (namespace %q)", user, verb, res, ns)
					}
				}
			}
			for _, verb := range []string{"impersonate", "escalate", "bind"} {
				if cp.canI(t, user, ns, verb, "*") {
					t.Errorf("%s can %s", user, verb)
				}
			}
		}
	}
	// Neither reads what it does not need; the gateway does not talk to the
	// API server at all.
	for _, res := range []string{"namespaces", "nodes", "replicasets.apps", "jobs.batch", "endpoints", "endpointslices.discovery.k8s.io", "configmaps"} {
		for _, user := range []string{agent, gateway} {
			if cp.canI(t, user, "", "list", res) {
				t.Errorf("%s can list %s", user, res)
			}
		}
	}
	if cp.canI(t, gateway, "", "list", "pods") {
		t.Error("gateway can list pods")
	}

	// The whole set, as each account sees it with its own token, against
	// the baseline Kubernetes grants any service account of the namespace
	// (system:basic-user's self reviews, system:public-info-viewer, cluster
	// trust bundles...), read as the namespace's unbound `default` account:
	// the agent adds read access to pods and nothing else; the gateway adds
	// nothing.
	for _, ns := range []string{cp.ns, "default", "kube-system"} {
		baseline := cp.rules(t, cp.env["VIGIL_K8S_ADMIN_KUBECONFIG"], "system:serviceaccount:"+cp.ns+":default", ns)
		if len(baseline) == 0 {
			t.Fatalf("no baseline rules in %s", ns)
		}
		for _, acct := range []struct {
			name, kubeconfig string
			mayRead          []string
		}{
			{"agent", cp.env["VIGIL_K8S_AGENT_KUBECONFIG"], []string{"/pods"}},
			{"gateway", cp.env["VIGIL_K8S_GATEWAY_KUBECONFIG"], nil},
		} {
			granted := map[string]bool{}
			for r := range cp.rules(t, acct.kubeconfig, "", ns) {
				if baseline[r] {
					continue
				}
				res, verb, _ := strings.Cut(r, " ")
				if !slices.Contains([]string{"get", "list", "watch"}, verb) || !slices.Contains(acct.mayRead, res) {
					t.Errorf("%s in %s: may %s %s, which it does not need", acct.name, ns, verb, res)
				}
				granted[r] = true
			}
			for _, res := range acct.mayRead {
				for _, verb := range []string{"get", "list", "watch"} {
					if !granted[res+" "+verb] {
						t.Errorf("%s in %s: the rules review lacks %s %s", acct.name, ns, verb, res)
					}
				}
			}
		}
	}
}

// rules returns what a SelfSubjectRulesReview in namespace reports, as
// "group/resource verb" strings (wildcards kept as "*"), for the user of
// kubeconfig or, with as set, for the user it impersonates.
func (cp *controlPlane) rules(t *testing.T, kubeconfig, as, namespace string) map[string]bool {
	t.Helper()
	review := fmt.Sprintf("apiVersion: authorization.k8s.io/v1\nkind: SelfSubjectRulesReview\nspec:\n  namespace: %s\n", namespace)
	// --validate=false: client-side validation would list CRDs, which
	// these accounts may not.
	args := []string{"create", "--validate=false", "-f", "-", "-o", "json"}
	if as != "" {
		args = append(args, "--as="+as)
	}
	out, err := cp.run([]byte(review), kubeconfig, cp.kubectl, args...)
	if err != nil {
		t.Fatal(err)
	}
	var rr struct {
		Status struct {
			ResourceRules []struct {
				Verbs     []string `json:"verbs"`
				APIGroups []string `json:"apiGroups"`
				Resources []string `json:"resources"`
			} `json:"resourceRules"`
			Incomplete bool `json:"incomplete"`
		} `json:"status"`
	}
	if err := json.Unmarshal(out, &rr); err != nil {
		t.Fatalf("SelfSubjectRulesReview: %v\n%s", err, out)
	}
	if rr.Status.Incomplete {
		t.Fatalf("the rules review of %s in %s is incomplete:\n%s", kubeconfig, namespace, out)
	}
	set := map[string]bool{}
	for _, r := range rr.Status.ResourceRules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					set[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	return set
}
