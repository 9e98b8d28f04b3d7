// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/vigil-otel/vigil/internal/configtest"
)

const (
	chartDir  = "helm/vigil"
	release   = "vigil"
	namespace = "observability"
	// kubeVersion is the cluster version lint and template assume (a
	// source-built helm defaults to v1.20, below the chart's kubeVersion).
	kubeVersion = "1.33.0"
)

// helmBin finds the pinned Helm that scripts/helm.sh installs (the version
// is pinned once, in scripts/versions.sh). Without it the test fails in CI
// (CI=true) and skips elsewhere, saying how to install it.
func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VIGIL_HELM_BIN"); p != "" {
		return p
	}
	out, err := exec.Command("bash", filepath.Join("..", "scripts", "helm.sh"), "bin").Output()
	require.NoError(t, err, "scripts/helm.sh bin")
	p := strings.TrimSpace(string(out))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := fmt.Sprintf("helm not found at %s: install it with `bash scripts/helm.sh install` (or set VIGIL_HELM_BIN)", p)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func runHelm(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoErrorf(t, err, "helm %s: %s\n%s", strings.Join(args, " "), stderr.String(), out)
	return out
}

// rendered holds the objects of one `helm template`, decoded strictly.
type rendered struct {
	daemonSets      []appsv1.DaemonSet
	deployments     []appsv1.Deployment
	services        []corev1.Service
	configMaps      []corev1.ConfigMap
	serviceAccounts []corev1.ServiceAccount
	clusterRoles    []rbacv1.ClusterRole
	bindings        []rbacv1.ClusterRoleBinding
	roles           []rbacv1.Role
	roleBindings    []rbacv1.RoleBinding
	pdbs            []policyv1.PodDisruptionBudget
	serviceMonitors []map[string]any
	prometheusRules []map[string]any
	certificates    []map[string]any
}

// strict decodes doc into out and fails on unknown or duplicate fields, so a
// typo in a template (e.g. `readonly:` for `readOnly:`) cannot pass.
func strict[T any](t *testing.T, doc []byte, out *T) T {
	t.Helper()
	require.NoErrorf(t, yaml.UnmarshalStrict(doc, out), "strict decode:\n%s", doc)
	return *out
}

// readChart reads every file of the chart (and the dashboards it links to)
// so that `go test` caching notices template changes: helm, not the test
// binary, opens them otherwise.
func readChart(t *testing.T) {
	t.Helper()
	for _, root := range []string{chartDir, "../dashboards"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		}))
	}
}

func render(t *testing.T, sets ...string) rendered {
	t.Helper()
	readChart(t)
	args := []string{"lint", chartDir, "--strict", "--kube-version", kubeVersion}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	runHelm(t, args...)

	args = []string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	out := runHelm(t, args...)

	var r rendered
	for _, doc := range bytes.Split(out, []byte("\n---")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal(doc, &head))
		if head.Kind == "" {
			continue // an empty document (a template that rendered nothing)
		}
		switch head.APIVersion + "/" + head.Kind {
		case "apps/v1/DaemonSet":
			r.daemonSets = append(r.daemonSets, strict(t, doc, &appsv1.DaemonSet{}))
		case "apps/v1/Deployment":
			r.deployments = append(r.deployments, strict(t, doc, &appsv1.Deployment{}))
		case "v1/Service":
			r.services = append(r.services, strict(t, doc, &corev1.Service{}))
		case "v1/ConfigMap":
			r.configMaps = append(r.configMaps, strict(t, doc, &corev1.ConfigMap{}))
		case "v1/ServiceAccount":
			r.serviceAccounts = append(r.serviceAccounts, strict(t, doc, &corev1.ServiceAccount{}))
		case "rbac.authorization.k8s.io/v1/ClusterRole":
			r.clusterRoles = append(r.clusterRoles, strict(t, doc, &rbacv1.ClusterRole{}))
		case "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
			r.bindings = append(r.bindings, strict(t, doc, &rbacv1.ClusterRoleBinding{}))
		case "rbac.authorization.k8s.io/v1/Role":
			r.roles = append(r.roles, strict(t, doc, &rbacv1.Role{}))
		case "rbac.authorization.k8s.io/v1/RoleBinding":
			r.roleBindings = append(r.roleBindings, strict(t, doc, &rbacv1.RoleBinding{}))
		case "policy/v1/PodDisruptionBudget":
			r.pdbs = append(r.pdbs, strict(t, doc, &policyv1.PodDisruptionBudget{}))
		case "monitoring.coreos.com/v1/ServiceMonitor":
			// A CRD: k8s.io/api has no type for it, so it is checked field by field.
			var m map[string]any
			require.NoError(t, yaml.UnmarshalStrict(doc, &m))
			r.serviceMonitors = append(r.serviceMonitors, m)
		case "monitoring.coreos.com/v1/PrometheusRule":
			var m map[string]any
			require.NoError(t, yaml.UnmarshalStrict(doc, &m))
			r.prometheusRules = append(r.prometheusRules, m)
		case "cert-manager.io/v1/Certificate":
			var m map[string]any
			require.NoError(t, yaml.UnmarshalStrict(doc, &m))
			r.certificates = append(r.certificates, m)
		default:
			t.Fatalf("unexpected object %s %s in the rendered chart", head.APIVersion, head.Kind)
		}
	}
	return r
}

func (r rendered) configMap(t *testing.T, name string) corev1.ConfigMap {
	t.Helper()
	for _, cm := range r.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %q", name)
	return corev1.ConfigMap{}
}

func (r rendered) service(name string) *corev1.Service {
	for i := range r.services {
		if r.services[i].Name == name {
			return &r.services[i]
		}
	}
	return nil
}

// collectorConfig is the part of a collector configuration the test reads.
type collectorConfig struct {
	Extensions map[string]map[string]any `json:"extensions"`
	Receivers  map[string]map[string]any `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
	Connectors map[string]map[string]any `json:"connectors"`
	Service    struct {
		Extensions []string       `json:"extensions"`
		Telemetry  map[string]any `json:"telemetry"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

// config decodes a collector configuration and checks that every component a
// pipeline names is defined, and that connectors are used on both sides.
func config(t *testing.T, cm corev1.ConfigMap) collectorConfig {
	t.Helper()
	var c collectorConfig
	require.NoError(t, yaml.UnmarshalStrict([]byte(cm.Data["config.yaml"]), &c), cm.Data["config.yaml"])
	asExporter, asReceiver := map[string]bool{}, map[string]bool{}
	for name, p := range c.Service.Pipelines {
		for _, id := range p.Receivers {
			_, isRecv := c.Receivers[id]
			_, isConn := c.Connectors[id]
			assert.Truef(t, isRecv || isConn, "pipeline %s: receiver %q is not defined", name, id)
			asReceiver[id] = true
		}
		for _, id := range p.Processors {
			assert.Containsf(t, c.Processors, id, "pipeline %s: processor %q is not defined", name, id)
		}
		for _, id := range p.Exporters {
			_, isExp := c.Exporters[id]
			_, isConn := c.Connectors[id]
			assert.Truef(t, isExp || isConn, "pipeline %s: exporter %q is not defined", name, id)
			asExporter[id] = true
		}
	}
	for id := range c.Connectors {
		assert.Truef(t, asExporter[id] && asReceiver[id], "connector %q must be an exporter of one pipeline and a receiver of another", id)
	}
	for _, id := range c.Service.Extensions {
		assert.Containsf(t, c.Extensions, id, "extension %q is not defined", id)
	}
	return c
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func mounts(c corev1.Container) map[string]corev1.VolumeMount {
	m := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		m[vm.MountPath] = vm
	}
	return m
}

func hostPaths(spec corev1.PodSpec) map[string]string {
	m := map[string]string{}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			m[v.Name] = v.HostPath.Path
		}
	}
	return m
}

func portByName(c corev1.Container, name string) corev1.ContainerPort {
	for _, p := range c.Ports {
		if p.Name == name {
			return p
		}
	}
	return corev1.ContainerPort{}
}

var kernelMounts = []string{"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup"}

// checkWorkload asserts what every Vigil container has: probes on the
// health_check port, requests and limits, GOMEMLIMIT, the node-name env.
func checkWorkload(t *testing.T, c corev1.Container, cfg collectorConfig, wantGoMemLimit string) {
	t.Helper()
	health := portByName(c, "health")
	require.NotZero(t, health.ContainerPort, "container port named health")
	hcEndpoint, _ := cfg.Extensions["health_check"]["endpoint"].(string)
	assert.True(t, strings.HasSuffix(hcEndpoint, fmt.Sprintf(":%d", health.ContainerPort)),
		"health_check endpoint %q must listen on the probed port %d", hcEndpoint, health.ContainerPort)
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if assert.NotNilf(t, p, "%s probe", name) && assert.NotNilf(t, p.HTTPGet, "%s probe httpGet", name) {
			assert.Equalf(t, "health", p.HTTPGet.Port.String(), "%s probe port", name)
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		assert.Containsf(t, c.Resources.Requests, res, "requests.%s", res)
		assert.Containsf(t, c.Resources.Limits, res, "limits.%s", res)
	}
	env := envByName(c)
	assert.Equal(t, wantGoMemLimit, env["GOMEMLIMIT"].Value, "GOMEMLIMIT")
	if assert.NotNil(t, env["K8S_NODE_NAME"].ValueFrom) && assert.NotNil(t, env["K8S_NODE_NAME"].ValueFrom.FieldRef) {
		assert.Equal(t, "spec.nodeName", env["K8S_NODE_NAME"].ValueFrom.FieldRef.FieldPath)
	}
	if assert.NotNil(t, env["K8S_POD_IP"].ValueFrom) {
		assert.Equal(t, "status.podIP", env["K8S_POD_IP"].ValueFrom.FieldRef.FieldPath)
	}
	assert.Contains(t, c.Args, "--config=/etc/vigil/config.yaml")

	// Self-metrics keep _total and unit suffixes: the dashboards and alert
	// rules in dashboards/ query those names.
	metricsCfg, _ := cfg.Service.Telemetry["metrics"].(map[string]any)
	readers, _ := metricsCfg["readers"].([]any)
	require.Len(t, readers, 1, "telemetry readers")
	prom, _ := readers[0].(map[string]any)["pull"].(map[string]any)["exporter"].(map[string]any)["prometheus"].(map[string]any)
	require.NotNil(t, prom, "pull prometheus reader")
	assert.Equal(t, false, prom["without_type_suffix"])
	assert.Equal(t, false, prom["without_units"])
	assert.EqualValues(t, portByName(c, "metrics").ContainerPort, prom["port"])
}

func capsAdded(c corev1.Container) []string {
	var out []string
	if c.SecurityContext != nil && c.SecurityContext.Capabilities != nil {
		for _, cp := range c.SecurityContext.Capabilities.Add {
			out = append(out, string(cp))
		}
	}
	return out
}

func TestChartDefault(t *testing.T) {
	r := render(t)

	require.Len(t, r.daemonSets, 1)
	assert.Empty(t, r.deployments, "no gateway by default")
	assert.Empty(t, r.pdbs, "no PDB without the gateway (drains do not evict DaemonSet pods)")
	assert.Empty(t, r.serviceMonitors)
	assert.Empty(t, r.prometheusRules)

	ds := r.daemonSets[0]
	require.Len(t, ds.Spec.Template.Spec.Containers, 1)
	c := ds.Spec.Template.Spec.Containers[0]
	cfg := config(t, r.configMap(t, release+"-agent"))
	checkWorkload(t, c, cfg, "409MiB") // 80% of 512Mi

	// eBPF: exactly CAP_BPF and CAP_PERFMON, everything else dropped, not privileged.
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.ElementsMatch(t, []string{"BPF", "PERFMON"}, capsAdded(c))
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	require.NotNil(t, sc.Privileged)
	assert.False(t, *sc.Privileged)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.False(t, ds.Spec.Template.Spec.HostNetwork)
	assert.False(t, ds.Spec.Template.Spec.HostPID)

	// Read-only host mounts for BTF, tracefs and the cgroup tree.
	m, hp := mounts(c), hostPaths(ds.Spec.Template.Spec)
	for _, path := range kernelMounts {
		vm, ok := m[path]
		if assert.Truef(t, ok, "mount %s", path) {
			assert.Truef(t, vm.ReadOnly, "mount %s must be read-only", path)
			assert.Equalf(t, path, hp[vm.Name], "volume %s must be hostPath %s", vm.Name, path)
		}
	}
	assert.Contains(t, cfg.Receivers, "kernel")

	// Node-local OTLP through hostPort; receivers bind the pod IP, not 0.0.0.0.
	assert.Equal(t, int32(4317), portByName(c, "otlp-grpc").HostPort)
	assert.Equal(t, int32(4318), portByName(c, "otlp-http").HostPort)
	assert.Equal(t, "${env:K8S_POD_IP}:4317", dig(cfg.Receivers["otlp"], "protocols", "grpc", "endpoint"))

	// k8s_attributes watches only this node's pods.
	k8s := cfg.Processors["k8s_attributes"]
	require.NotNil(t, k8s, "k8s_attributes processor")
	nodeVar := dig(k8s, "filter", "node_from_env_var")
	assert.Equal(t, "K8S_NODE_NAME", nodeVar)
	assert.Contains(t, envByName(c), nodeVar, "the node filter's env var must be set on the container")
	assert.Contains(t, cfg.Service.Pipelines["traces"].Processors, "k8s_attributes")
	assert.Contains(t, cfg.Service.Pipelines["metrics/kernel"].Processors, "k8s_attributes")
	// The EWMA connector emits no raw metrics: the kernel pipeline exports
	// them itself (the default install once exported none).
	assert.Equal(t, []string{"ewma_baseline", "prometheusremotewrite"}, cfg.Service.Pipelines["metrics/kernel"].Exporters)

	// RBAC: read-only, bound to the DaemonSet's service account.
	require.Len(t, r.clusterRoles, 1)
	wantRead := []string{"get", "list", "watch"}
	resources := map[string]bool{}
	for _, rule := range r.clusterRoles[0].Rules {
		assert.ElementsMatch(t, wantRead, rule.Verbs, "verbs of %v", rule.Resources)
		for _, res := range rule.Resources {
			resources[res] = true
		}
	}
	// Pods only: what k8s_attributes watches for the names the chart extracts.
	assert.Equal(t, map[string]bool{"pods": true}, resources, "ClusterRole resources")
	require.Len(t, r.bindings, 1)
	b := r.bindings[0]
	assert.Equal(t, r.clusterRoles[0].Name, b.RoleRef.Name)
	require.Len(t, b.Subjects, 1)
	assert.Equal(t, ds.Spec.Template.Spec.ServiceAccountName, b.Subjects[0].Name)
	assert.Equal(t, namespace, b.Subjects[0].Namespace)
	require.Len(t, r.serviceAccounts, 1)
	assert.Equal(t, ds.Spec.Template.Spec.ServiceAccountName, r.serviceAccounts[0].Name)

	// The agent exports straight to the backends and derives span metrics.
	assert.Contains(t, cfg.Service.Pipelines["traces"].Exporters, "jaeger")
	assert.Contains(t, cfg.Service.Pipelines["traces"].Exporters, "span_metrics")
	assert.Contains(t, cfg.Service.Pipelines["metrics"].Exporters, "prometheusremotewrite")
	assert.Contains(t, cfg.Service.Pipelines["logs"].Exporters, "loki")

	// The ConfigMap mounted is the one rendered.
	var cmName string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	assert.Equal(t, release+"-agent", cmName)

	// Dashboards: one ConfigMap per JSON file in dashboards/, labelled for the sidecar.
	files, err := filepath.Glob("../dashboards/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var got []string
	for _, cm := range r.configMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		for k, v := range cm.Data {
			got = append(got, k)
			assert.Truef(t, json.Valid([]byte(v)), "dashboard %s must be valid JSON", k)
			want, err := os.ReadFile(filepath.Join("..", "dashboards", k))
			if assert.NoError(t, err) {
				assert.JSONEqf(t, string(want), v, "dashboard %s must match dashboards/%s", k, k)
			}
		}
	}
	var want []string
	for _, f := range files {
		want = append(want, filepath.Base(f))
	}
	assert.ElementsMatch(t, want, got)
}

// dig walks nested maps and returns the string at the end, or "".
func dig(m map[string]any, keys ...string) string {
	s, _ := configtest.Dig(m, keys...).(string)
	return s
}

func TestChartOptions(t *testing.T) {
	tests := []struct {
		name  string
		sets  []string
		check func(t *testing.T, r rendered)
	}{
		{
			name: "kernel.netAdmin",
			sets: []string{"agent.kernel.netAdmin=true"},
			check: func(t *testing.T, r rendered) {
				assert.ElementsMatch(t, []string{"BPF", "PERFMON", "NET_ADMIN"}, capsAdded(r.daemonSets[0].Spec.Template.Spec.Containers[0]))
			},
		},
		{
			name: "kernel.privileged",
			sets: []string{"agent.kernel.privileged=true"},
			check: func(t *testing.T, r rendered) {
				c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
				require.NotNil(t, c.SecurityContext.Privileged)
				assert.True(t, *c.SecurityContext.Privileged)
			},
		},
		{
			name: "kernel disabled",
			sets: []string{"agent.kernel.enabled=false"},
			check: func(t *testing.T, r rendered) {
				c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
				assert.Empty(t, capsAdded(c), "no capabilities without the kernel receiver")
				m := mounts(c)
				assert.NotContains(t, m, "/sys/kernel/btf")
				assert.NotContains(t, m, "/sys/kernel/tracing")
				// The cgroup receiver (on by default) still reads the cgroup files.
				if assert.Contains(t, m, "/sys/fs/cgroup") {
					assert.True(t, m["/sys/fs/cgroup"].ReadOnly)
				}
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Receivers, "kernel")
				assert.NotContains(t, cfg.Connectors, "ewma_baseline")
				assert.Contains(t, cfg.Receivers, "cgroup")
			},
		},
		{
			name: "kernel and cgroup disabled",
			sets: []string{"agent.kernel.enabled=false", "agent.cgroup.enabled=false"},
			check: func(t *testing.T, r rendered) {
				m := mounts(r.daemonSets[0].Spec.Template.Spec.Containers[0])
				for _, p := range kernelMounts {
					assert.NotContains(t, m, p)
				}
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Receivers, "cgroup")
				assert.NotContains(t, cfg.Service.Pipelines["metrics"].Receivers, "cgroup")
			},
		},
		{
			name: "cgroup receiver by default",
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.Contains(t, cfg.Receivers, "cgroup")
				assert.Contains(t, cfg.Service.Pipelines["metrics"].Receivers, "cgroup")
			},
		},
		{
			name: "pod logs by default",
			check: func(t *testing.T, r rendered) {
				m := mounts(r.daemonSets[0].Spec.Template.Spec.Containers[0])
				if assert.Contains(t, m, "/var/log/pods") {
					assert.True(t, m["/var/log/pods"].ReadOnly)
				}
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.Contains(t, cfg.Receivers, "file_log/pods")
				assert.Contains(t, cfg.Exporters, "loki/pods")
				p := cfg.Service.Pipelines["logs/pods"]
				assert.Equal(t, []string{"file_log/pods"}, p.Receivers)
				assert.Equal(t, []string{"loki/pods"}, p.Exporters)
				assert.NotContains(t, p.Processors, "batch", "the batch processor acknowledges before the queue holds the data")
				// Lines are parsed as the embedded default config parses them
				// (CRI and Docker partial lines joined, level, retain).
				b, err := os.ReadFile(filepath.Join("..", "cmd", "gateway", "default-config.yaml"))
				require.NoError(t, err)
				var def struct {
					Receivers map[string]map[string]any `json:"receivers"`
				}
				require.NoError(t, yaml.Unmarshal(b, &def))
				assert.Equal(t, def.Receivers["file_log/pods"]["operators"], cfg.Receivers["file_log/pods"]["operators"])
			},
		},
		{
			name: "pod logs with a gateway go straight to the backend",
			sets: []string{"gateway.enabled=true"},
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.Equal(t, []string{"loki/pods"}, cfg.Service.Pipelines["logs/pods"].Exporters)
				assert.Contains(t, cfg.Exporters, "loki/pods")
			},
		},
		{
			name: "pod logs disabled",
			sets: []string{"agent.podLogs.enabled=false"},
			check: func(t *testing.T, r rendered) {
				assert.NotContains(t, mounts(r.daemonSets[0].Spec.Template.Spec.Containers[0]), "/var/log/pods")
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Receivers, "file_log/pods")
				assert.NotContains(t, cfg.Exporters, "loki/pods")
				assert.NotContains(t, cfg.Service.Pipelines, "logs/pods")
			},
		},
		{
			name: "kernel without baselines",
			sets: []string{"agent.ewmaBaseline.enabled=false"},
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.Contains(t, cfg.Service.Pipelines["metrics"].Receivers, "kernel")
				assert.NotContains(t, cfg.Connectors, "ewma_baseline")
			},
		},
		{
			name: "localService instead of hostPort",
			sets: []string{"agent.localService.enabled=true", "agent.otlp.hostPort=false"},
			check: func(t *testing.T, r rendered) {
				svc := r.service(release + "-agent")
				require.NotNil(t, svc)
				require.NotNil(t, svc.Spec.InternalTrafficPolicy)
				assert.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *svc.Spec.InternalTrafficPolicy)
				c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
				assert.Zero(t, portByName(c, "otlp-grpc").HostPort)
			},
		},
		{
			name: "memory limit 1Gi",
			sets: []string{"agent.resources.limits.memory=1Gi", "agent.goMemLimitPercent=90"},
			check: func(t *testing.T, r rendered) {
				c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
				assert.Equal(t, "921MiB", envByName(c)["GOMEMLIMIT"].Value) // 90% of 1024MiB
			},
		},
		{
			name: "k8sAttributes extraRules",
			sets: []string{"k8sAttributes.extraRules[0].apiGroups[0]=", "k8sAttributes.extraRules[0].resources[0]=namespaces",
				"k8sAttributes.extraRules[0].verbs={get,list,watch}"},
			check: func(t *testing.T, r rendered) {
				require.Len(t, r.clusterRoles, 1)
				rules := r.clusterRoles[0].Rules
				require.Len(t, rules, 2)
				assert.Equal(t, []string{"pods"}, rules[0].Resources)
				assert.Equal(t, []string{""}, rules[1].APIGroups)
				assert.Equal(t, []string{"namespaces"}, rules[1].Resources)
				assert.Equal(t, []string{"get", "list", "watch"}, rules[1].Verbs)
			},
		},
		{
			name: "k8sAttributes disabled",
			sets: []string{"k8sAttributes.enabled=false"},
			check: func(t *testing.T, r rendered) {
				// The prometheus receiver's pod discovery still needs pods.
				require.Len(t, r.clusterRoles, 1)
				require.Len(t, r.clusterRoles[0].Rules, 1)
				assert.Equal(t, []string{"pods"}, r.clusterRoles[0].Rules[0].Resources)
				assert.ElementsMatch(t, []string{"get", "list", "watch"}, r.clusterRoles[0].Rules[0].Verbs)
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Processors, "k8s_attributes")
			},
		},
		{
			name: "k8sAttributes and prometheusScrape disabled",
			sets: []string{"k8sAttributes.enabled=false", "agent.prometheusScrape.enabled=false"},
			check: func(t *testing.T, r rendered) {
				assert.Empty(t, r.clusterRoles)
				assert.Empty(t, r.bindings)
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Receivers, "prometheus")
				assert.NotContains(t, cfg.Exporters, "prometheusremotewrite/scrape")
				assert.NotContains(t, cfg.Service.Pipelines, "metrics/scrape")
			},
		},
		{
			name: "prometheusScrape by default",
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				prom := cfg.Receivers["prometheus"]
				require.NotNil(t, prom, "prometheus receiver")
				jobs := map[string]map[string]any{}
				for _, j := range prom["config"].(map[string]any)["scrape_configs"].([]any) {
					jm := j.(map[string]any)
					jobs[jm["job_name"].(string)] = jm
				}
				require.Contains(t, jobs, "vigil-agent")
				require.Contains(t, jobs, "kubernetes-pods")
				assert.NotContains(t, jobs, "static")
				self := jobs["vigil-agent"]["static_configs"].([]any)[0].(map[string]any)["targets"].([]any)
				assert.Equal(t, []any{"${env:K8S_POD_IP}:8888"}, self)
				// Discovery watches only this node's pods.
				sd := jobs["kubernetes-pods"]["kubernetes_sd_configs"].([]any)[0].(map[string]any)
				assert.Equal(t, "pod", sd["role"])
				sel := sd["selectors"].([]any)[0].(map[string]any)
				assert.Equal(t, "spec.nodeName=${env:K8S_NODE_NAME}", sel["field"])
				c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
				assert.Contains(t, envByName(c), "K8S_NODE_NAME")
				// The annotations drive the target; "$$" reaches Prometheus as "$".
				var keep, addr bool
				for _, rc := range jobs["kubernetes-pods"]["relabel_configs"].([]any) {
					rm := rc.(map[string]any)
					if rm["action"] == "keep" && slices.Contains(rm["source_labels"].([]any), any("__meta_kubernetes_pod_annotation_prometheus_io_scrape")) {
						keep = rm["regex"] == "true"
					}
					if rm["target_label"] == "__address__" && rm["replacement"] == "$$2:$$1" {
						addr = true
					}
				}
				assert.True(t, keep, "keep on prometheus.io/scrape=true")
				assert.True(t, addr, "address from prometheus.io/port")
				p := cfg.Service.Pipelines["metrics/scrape"]
				assert.Equal(t, []string{"prometheus"}, p.Receivers)
				assert.Equal(t, []string{"prometheusremotewrite/scrape"}, p.Exporters)
				exp := cfg.Exporters["prometheusremotewrite/scrape"]
				assert.Equal(t, "UnderscoreEscapingWithoutSuffixes", exp["translation_strategy"])
				assert.Equal(t, map[string]any{"enabled": false}, exp["target_info"])
				assert.NotContains(t, exp, "resource_to_telemetry_conversion")
				// RBAC unchanged: pods get/list/watch only.
				require.Len(t, r.clusterRoles, 1)
				require.Len(t, r.clusterRoles[0].Rules, 1)
				assert.Equal(t, []string{"pods"}, r.clusterRoles[0].Rules[0].Resources)
			},
		},
		{
			name: "prometheusScrape static targets, no pods, with a gateway",
			sets: []string{"agent.prometheusScrape.pods=false", "agent.prometheusScrape.self=false",
				"agent.prometheusScrape.staticTargets={10.0.0.1:9100,node-exporter:9100}", "gateway.enabled=true"},
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				jobs := cfg.Receivers["prometheus"]["config"].(map[string]any)["scrape_configs"].([]any)
				require.Len(t, jobs, 1)
				j := jobs[0].(map[string]any)
				assert.Equal(t, "static", j["job_name"])
				assert.Equal(t, []any{"10.0.0.1:9100", "node-exporter:9100"}, j["static_configs"].([]any)[0].(map[string]any)["targets"])
				// Scraped series go straight to the backend, also with a gateway.
				assert.Equal(t, []string{"prometheusremotewrite/scrape"}, cfg.Service.Pipelines["metrics/scrape"].Exporters)
			},
		},
		{
			name: "spanMetrics disabled",
			sets: []string{"spanMetrics.enabled=false"},
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.NotContains(t, cfg.Connectors, "span_metrics")
			},
		},
		{
			name: "gateway",
			sets: []string{"gateway.enabled=true"},
			check: func(t *testing.T, r rendered) {
				require.Len(t, r.deployments, 1)
				d := r.deployments[0]
				c := d.Spec.Template.Spec.Containers[0]
				gcfg := config(t, r.configMap(t, release+"-gateway"))
				checkWorkload(t, c, gcfg, "819MiB") // 80% of 1Gi
				assert.Empty(t, capsAdded(c), "the gateway needs no capabilities")
				assert.Contains(t, gcfg.Service.Pipelines["traces"].Exporters, "jaeger")

				require.Len(t, r.pdbs, 1)
				assert.Equal(t, d.Spec.Selector.MatchLabels, r.pdbs[0].Spec.Selector.MatchLabels)

				// The gateway runs as its own account, bound to no role and
				// with no token mounted: it makes no API calls, so it must
				// not share the agent's read access to every pod.
				gwSA := d.Spec.Template.Spec.ServiceAccountName
				agentSA := r.daemonSets[0].Spec.Template.Spec.ServiceAccountName
				assert.Equal(t, release+"-gateway", gwSA)
				assert.NotEqual(t, agentSA, gwSA, "gateway and agent must not share a service account")
				if assert.NotNil(t, d.Spec.Template.Spec.AutomountServiceAccountToken) {
					assert.False(t, *d.Spec.Template.Spec.AutomountServiceAccountToken, "gateway pods mount no token")
				}
				var names []string
				for _, sa := range r.serviceAccounts {
					names = append(names, sa.Name)
				}
				assert.ElementsMatch(t, []string{agentSA, gwSA}, names)
				for _, b := range r.bindings {
					for _, s := range b.Subjects {
						assert.NotEqualf(t, gwSA, s.Name, "ClusterRoleBinding %s binds the gateway's account", b.Name)
					}
				}

				headless := r.service(release + "-gateway-headless")
				require.NotNil(t, headless)
				assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP)
				assert.Equal(t, d.Spec.Selector.MatchLabels, headless.Spec.Selector)
				require.NotNil(t, r.service(release+"-gateway"))

				// Agents route traces by trace ID and metrics by stream (series).
				acfg := config(t, r.configMap(t, release+"-agent"))
				wantKey := map[string]string{"traces": "traceID", "metrics": "streamID", "logs": "service"}
				for signal, key := range wantKey {
					exp := acfg.Exporters["load_balancing/"+signal]
					require.NotNilf(t, exp, "load_balancing/%s", signal)
					assert.Equal(t, key, exp["routing_key"])
					assert.Equal(t, release+"-gateway-headless."+namespace+".svc", dig(exp, "resolver", "dns", "hostname"))
					assert.Contains(t, acfg.Service.Pipelines[signal].Exporters, "load_balancing/"+signal)
					// The durable queue and the retries are the load_balancing
					// exporter's own; its per-endpoint otlp exporters share one
					// component ID, so a storage there would be one file for
					// all endpoints (TestK8sGatewayTier failed on that).
					assert.Equal(t, "file_storage/queue", dig(exp, "sending_queue", "storage"))
					assert.Equal(t, true, configtest.Dig(exp, "retry_on_failure", "enabled"))
					assert.Equal(t, false, configtest.Dig(exp, "protocol", "otlp", "sending_queue", "enabled"))
					assert.Nil(t, configtest.Dig(exp, "protocol", "otlp", "sending_queue", "storage"))
					assert.Equal(t, false, configtest.Dig(exp, "protocol", "otlp", "retry_on_failure", "enabled"))
				}
				assert.NotContains(t, acfg.Exporters, "jaeger", "agents forward to the gateway only")
				assert.Contains(t, acfg.Service.Pipelines["metrics/derived"].Exporters, "load_balancing/metrics")
			},
		},
		{
			name: "gateway kubernetes resolver",
			sets: []string{"gateway.enabled=true", "gateway.resolver=kubernetes"},
			check: func(t *testing.T, r rendered) {
				acfg := config(t, r.configMap(t, release+"-agent"))
				for _, signal := range []string{"traces", "metrics", "logs"} {
					exp := acfg.Exporters["load_balancing/"+signal]
					require.NotNilf(t, exp, "load_balancing/%s", signal)
					assert.Equal(t, release+"-gateway-headless."+namespace, dig(exp, "resolver", "k8s", "service"))
					assert.NotContains(t, exp["resolver"], "dns")
				}
				// The agents read EndpointSlices of their namespace, nothing more.
				require.Len(t, r.roles, 1)
				assert.Equal(t, namespace, r.roles[0].Namespace)
				assert.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}}}, r.roles[0].Rules)
				require.Len(t, r.roleBindings, 1)
				assert.Equal(t, r.roles[0].Name, r.roleBindings[0].RoleRef.Name)
				assert.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: r.daemonSets[0].Spec.Template.Spec.ServiceAccountName, Namespace: namespace}}, r.roleBindings[0].Subjects)
			},
		},
		{
			name: "serviceMonitor",
			sets: []string{"serviceMonitor.enabled=true", "gateway.enabled=true", "serviceMonitor.labels.release=prom"},
			check: func(t *testing.T, r rendered) {
				require.Len(t, r.serviceMonitors, 2)
				for _, sm := range r.serviceMonitors {
					spec := sm["spec"].(map[string]any)
					sel := spec["selector"].(map[string]any)["matchLabels"].(map[string]any)
					eps := spec["endpoints"].([]any)
					require.Len(t, eps, 1)
					assert.Equal(t, "metrics", eps[0].(map[string]any)["port"])
					assert.Equal(t, "prom", sm["metadata"].(map[string]any)["labels"].(map[string]any)["release"])
					// Some Service carrying a "metrics" port matches the selector.
					found := false
					for _, svc := range r.services {
						match := true
						for k, v := range sel {
							if svc.Labels[k] != v {
								match = false
							}
						}
						if match && slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
							found = true
						}
					}
					assert.Truef(t, found, "ServiceMonitor %v selects no Service with a metrics port", sm["metadata"].(map[string]any)["name"])
				}
			},
		},
		{
			name: "prometheusRule",
			sets: []string{"prometheusRule.enabled=true", "prometheusRule.labels.release=prom"},
			check: func(t *testing.T, r rendered) {
				require.Len(t, r.prometheusRules, 1)
				pr := r.prometheusRules[0]
				assert.Equal(t, "prom", pr["metadata"].(map[string]any)["labels"].(map[string]any)["release"])
				// The same rules as dashboards/alerts/vigil.rules.yaml.
				b, err := os.ReadFile("../dashboards/alerts/vigil.rules.yaml")
				require.NoError(t, err)
				var file map[string]any
				require.NoError(t, yaml.Unmarshal(b, &file))
				assert.Equal(t, file["groups"], pr["spec"].(map[string]any)["groups"])
			},
		},
		{
			name: "dashboards disabled",
			sets: []string{"dashboards.enabled=false"},
			check: func(t *testing.T, r rendered) {
				for _, cm := range r.configMaps {
					assert.NotContains(t, cm.Labels, "grafana_dashboard")
				}
			},
		},
		{
			name: "agent config override",
			sets: []string{"agent.config.processors.batch.timeout=2s"},
			check: func(t *testing.T, r rendered) {
				cfg := config(t, r.configMap(t, release+"-agent"))
				assert.Equal(t, "2s", cfg.Processors["batch"]["timeout"])
				assert.Contains(t, cfg.Processors, "k8s_attributes", "override merges, it does not replace")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, render(t, tt.sets...))
		})
	}
}

func TestChartRejectsBadMemoryLimit(t *testing.T) {
	cmd := exec.Command(helmBin(t), "template", release, chartDir, "--kube-version", kubeVersion, "--set", "agent.resources.limits.memory=lots")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "helm template must fail on an unparsable memory limit")
	assert.Contains(t, string(out), `memory limit "lots"`)
}

// TestChartPackage packages the chart (which follows the dashboards symlink)
// and renders the archive: what `helm install` from a repository sees must
// still carry the dashboards and the alert rules.
func TestChartPackage(t *testing.T) {
	readChart(t)
	dir := t.TempDir()
	runHelm(t, "package", chartDir, "--destination", dir)
	archives, err := filepath.Glob(filepath.Join(dir, "vigil-*.tgz"))
	require.NoError(t, err)
	require.Len(t, archives, 1)
	out := runHelm(t, "template", release, archives[0], "--kube-version", kubeVersion, "--set", "prometheusRule.enabled=true")
	files, err := filepath.Glob("../dashboards/*.json")
	require.NoError(t, err)
	assert.Equal(t, len(files), bytes.Count(out, []byte("grafana_dashboard: \"1\"")), "one dashboard ConfigMap per JSON file")
	assert.Contains(t, string(out), "alert: VigilExporterDroppingData")
}

func TestChartRejectsUnknownResolver(t *testing.T) {
	cmd := exec.Command(helmBin(t), "template", release, chartDir, "--kube-version", kubeVersion, "--set", "gateway.enabled=true", "--set", "gateway.resolver=static")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "helm template must fail on an unknown gateway.resolver")
	assert.Contains(t, string(out), `gateway.resolver must be dns or kubernetes, not "static"`)
}
