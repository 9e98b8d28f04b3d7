// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// hopTLSDir is where both workloads mount the hop's TLS files.
const hopTLSDir = "/etc/vigil/tls"

// lbExporters returns the agent's load_balancing exporters' otlp protocol
// settings, by exporter name.
func lbExporters(t *testing.T, cfg collectorConfig) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, sig := range []string{"traces", "metrics", "logs"} {
		name := "load_balancing/" + sig
		exp, ok := cfg.Exporters[name]
		require.Truef(t, ok, "agent has no exporter %s", name)
		proto, _ := exp["protocol"].(map[string]any)
		otlp, _ := proto["otlp"].(map[string]any)
		require.NotNilf(t, otlp, "%s has no protocol.otlp", name)
		out[name] = otlp
	}
	return out
}

func secretVolume(t *testing.T, spec corev1.PodSpec, name string) *corev1.SecretVolumeSource {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == name {
			require.NotNilf(t, v.Secret, "volume %s is not a Secret", name)
			return v.Secret
		}
	}
	t.Fatalf("no volume %q", name)
	return nil
}

func itemKeys(s *corev1.SecretVolumeSource) []string {
	var keys []string
	for _, it := range s.Items {
		keys = append(keys, it.Key)
	}
	return keys
}

// checkHopToken: the container gets VIGIL_HOP_TOKEN from the Secret, and the
// config defines bearertokenauth/hop with it and starts it.
func checkHopToken(t *testing.T, c corev1.Container, cfg collectorConfig) {
	t.Helper()
	env, ok := envByName(c)["VIGIL_HOP_TOKEN"]
	if assert.True(t, ok, "no VIGIL_HOP_TOKEN env var") && assert.NotNil(t, env.ValueFrom) && assert.NotNil(t, env.ValueFrom.SecretKeyRef) {
		assert.Equal(t, "hop-token", env.ValueFrom.SecretKeyRef.Name)
		assert.Equal(t, "token", env.ValueFrom.SecretKeyRef.Key)
		assert.Empty(t, env.Value, "the token must not be in the manifest")
	}
	assert.Equal(t, "${env:VIGIL_HOP_TOKEN}", dig(cfg.Extensions["bearertokenauth/hop"], "token"))
	assert.Contains(t, cfg.Service.Extensions, "bearertokenauth/hop")
}

func TestChartHopSecurity(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		r := render(t, "gateway.enabled=true")
		agent := config(t, r.configMap(t, release+"-agent"))
		gw := config(t, r.configMap(t, release+"-gateway"))
		assert.NotContains(t, agent.Extensions, "bearertokenauth/hop")
		assert.NotContains(t, gw.Extensions, "bearertokenauth/hop")
		for name, otlp := range lbExporters(t, agent) {
			assert.NotContainsf(t, otlp, "auth", "%s", name)
			assert.Equalf(t, true, otlp["tls"].(map[string]any)["insecure"], "%s", name)
		}
		assert.NotContains(t, mounts(r.daemonSets[0].Spec.Template.Spec.Containers[0]), hopTLSDir)
		assert.Empty(t, r.certificates)
	})

	t.Run("ignored without a gateway", func(t *testing.T) {
		r := render(t, "hopSecurity.token.enabled=true", "hopSecurity.token.secretName=hop-token", "hopSecurity.tls.enabled=true")
		c := r.daemonSets[0].Spec.Template.Spec.Containers[0]
		assert.NotContains(t, envByName(c), "VIGIL_HOP_TOKEN")
		assert.NotContains(t, mounts(c), hopTLSDir)
		assert.NotContains(t, config(t, r.configMap(t, release+"-agent")).Extensions, "bearertokenauth/hop")
	})

	t.Run("token and TLS from Secrets", func(t *testing.T) {
		r := render(t, "gateway.enabled=true",
			"hopSecurity.token.enabled=true", "hopSecurity.token.secretName=hop-token",
			"hopSecurity.tls.enabled=true", "hopSecurity.tls.secretName=hop-tls")
		agentPod := r.daemonSets[0].Spec.Template.Spec
		require.Len(t, r.deployments, 1)
		gwPod := r.deployments[0].Spec.Template.Spec
		agent := config(t, r.configMap(t, release+"-agent"))
		gw := config(t, r.configMap(t, release+"-gateway"))

		// Agent: every load_balancing exporter sends the token and verifies
		// the gateway's certificate against ca.crt, by the Service name.
		checkHopToken(t, agentPod.Containers[0], agent)
		for name, otlp := range lbExporters(t, agent) {
			assert.Equalf(t, "bearertokenauth/hop", dig(otlp, "auth", "authenticator"), "%s", name)
			tls, _ := otlp["tls"].(map[string]any)
			assert.Equalf(t, hopTLSDir+"/ca.crt", tls["ca_file"], "%s", name)
			assert.Equalf(t, release+"-gateway."+namespace+".svc", tls["server_name_override"], "%s", name)
			assert.NotContainsf(t, tls, "insecure", "%s", name)
		}
		m := mounts(agentPod.Containers[0])
		if assert.Contains(t, m, hopTLSDir) {
			assert.True(t, m[hopTLSDir].ReadOnly)
		}
		av := secretVolume(t, agentPod, m[hopTLSDir].Name)
		assert.Equal(t, "hop-tls", av.SecretName)
		assert.Equal(t, []string{"ca.crt"}, itemKeys(av), "the agent mounts the CA certificate only, not the gateway's key")

		// Gateway: the OTLP receiver serves TLS and requires the token.
		checkHopToken(t, gwPod.Containers[0], gw)
		protocols, _ := gw.Receivers["otlp"]["protocols"].(map[string]any)
		grpc, _ := protocols["grpc"].(map[string]any)
		require.NotNil(t, grpc)
		assert.Equal(t, "bearertokenauth/hop", dig(grpc, "auth", "authenticator"))
		assert.Equal(t, hopTLSDir+"/tls.crt", dig(grpc, "tls", "cert_file"))
		assert.Equal(t, hopTLSDir+"/tls.key", dig(grpc, "tls", "key_file"))
		gm := mounts(gwPod.Containers[0])
		if assert.Contains(t, gm, hopTLSDir) {
			assert.True(t, gm[hopTLSDir].ReadOnly)
		}
		gv := secretVolume(t, gwPod, gm[hopTLSDir].Name)
		assert.Equal(t, "hop-tls", gv.SecretName)
		assert.ElementsMatch(t, []string{"tls.crt", "tls.key"}, itemKeys(gv))
		assert.Empty(t, r.certificates, "no cert-manager Certificate unless asked")
	})

	t.Run("cert-manager Certificate", func(t *testing.T) {
		r := render(t, "gateway.enabled=true", "hopSecurity.tls.enabled=true",
			"hopSecurity.tls.certManager.enabled=true", "hopSecurity.tls.certManager.issuerRef.name=cluster-ca",
			"hopSecurity.tls.certManager.issuerRef.kind=ClusterIssuer")
		require.Len(t, r.certificates, 1)
		cert := r.certificates[0]
		assert.Equal(t, release+"-gateway-tls", dig(cert, "spec", "secretName"))
		assert.Equal(t, "cluster-ca", dig(cert, "spec", "issuerRef", "name"))
		assert.Equal(t, "ClusterIssuer", dig(cert, "spec", "issuerRef", "kind"))
		dns, _ := cert["spec"].(map[string]any)["dnsNames"].([]any)
		assert.Contains(t, dns, release+"-gateway."+namespace+".svc", "the name the agents verify")
		// The workloads mount the Secret the Certificate writes.
		gwPod := r.deployments[0].Spec.Template.Spec
		assert.Equal(t, release+"-gateway-tls", secretVolume(t, gwPod, mounts(gwPod.Containers[0])[hopTLSDir].Name).SecretName)
		agentPod := r.daemonSets[0].Spec.Template.Spec
		assert.Equal(t, release+"-gateway-tls", secretVolume(t, agentPod, mounts(agentPod.Containers[0])[hopTLSDir].Name).SecretName)
		// TLS without a token: no authenticator.
		assert.NotContains(t, config(t, r.configMap(t, release+"-gateway")).Extensions, "bearertokenauth/hop")
	})

	for _, tt := range []struct {
		name string
		sets []string
		want string
	}{
		{"token without a Secret", []string{"hopSecurity.token.enabled=true"}, "hopSecurity.token.secretName"},
		{"cert-manager without an issuer", []string{"hopSecurity.tls.enabled=true", "hopSecurity.tls.certManager.enabled=true"}, "issuerRef.name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"template", release, chartDir, "--kube-version", kubeVersion, "--set", "gateway.enabled=true"}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			out, err := exec.Command(helmBin(t), args...).CombinedOutput()
			require.Errorf(t, err, "helm template must fail:\n%s", out)
			assert.Contains(t, string(out), tt.want)
		})
	}
}
