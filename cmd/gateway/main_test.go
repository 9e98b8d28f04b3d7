// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// When the test binary is re-executed with runMainEnv set, it runs vigil's
// main instead of the tests, so exit codes are observed as a user sees them.
const runMainEnv = "VIGIL_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runVigil runs `vigil args...` as a child process and returns its exit code
// and combined output. Its state directory is the test's own.
func runVigil(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runVigilEnv(t, []string{stateDirEnv + "=" + t.TempDir()}, args...)
}

// runVigilEnv is runVigil with env added to the environment.
func runVigilEnv(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), out.String()
	default:
		t.Fatalf("running vigil %v: %v", args, err)
		return -1, ""
	}
}

func TestDefaultConfigValidates(t *testing.T) {
	code, out := runVigil(t, "validate")
	if code != 0 {
		t.Fatalf("vigil validate (embedded default) exited %d:\n%s", code, out)
	}
}

// TestDefaultConfigUsesTheStateDir: the embedded configuration keeps its
// state under VIGIL_STORAGE_DIR, so a state directory that is a file (not
// a directory) makes validation fail, naming it.
func TestDefaultConfigUsesTheStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runVigilEnv(t, []string{stateDirEnv + "=" + file}, "validate")
	if code == 0 || !strings.Contains(out, file+"/queue") {
		t.Fatalf("vigil validate with %s=%s (a file) exited %d, want an error naming %s/queue:\n%s", stateDirEnv, file, code, file, out)
	}
}

func TestDefaultStateDir(t *testing.T) {
	noHome := func() (string, error) { return "", errors.New("$HOME is not defined") }
	home := func() (string, error) { return "/home/u", nil }
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name    string
		euid    int
		getenv  func(string) string
		homeDir func() (string, error)
		want    string
		wantErr bool
	}{
		{name: "root", euid: 0, getenv: env(map[string]string{"XDG_STATE_HOME": "/x"}), homeDir: noHome, want: "/var/lib/vigil"},
		{name: "xdg", euid: 1000, getenv: env(map[string]string{"XDG_STATE_HOME": "/x/state"}), homeDir: home, want: "/x/state/vigil"},
		{name: "relative xdg ignored", euid: 1000, getenv: env(map[string]string{"XDG_STATE_HOME": "state"}), homeDir: home, want: "/home/u/.local/state/vigil"},
		{name: "home", euid: 1000, getenv: env(nil), homeDir: home, want: "/home/u/.local/state/vigil"},
		{name: "no home", euid: 1000, getenv: env(nil), homeDir: noHome, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaultStateDir(tt.euid, tt.getenv, tt.homeDir)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestPrintDefaultConfig(t *testing.T) {
	code, out := runVigil(t, "print-default-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	want, err := os.ReadFile("default-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("print-default-config printed something other than default-config.yaml:\n%s", out)
	}
}

func TestComponentsListed(t *testing.T) {
	code, out := runVigil(t, "components")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, name := range []string{"otlp", "prometheus", "memory_limiter", "batch", "debug", "otlp_grpc", "otlp_http", "health_check", "pprof", "file_storage", "bearertokenauth", "oidc", "file_log"} {
		if !strings.Contains(out, "- name: "+name+"\n") {
			t.Errorf("vigil components does not list %q", name)
		}
	}
}

// TestFeatureGateDefaults: vigil turns stanza.synchronousLogEmitter and
// processor.k8sattributes.ShareProcessorBetweenPipelines on.
func TestFeatureGateDefaults(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"featuregate", "stanza.synchronousLogEmitter"}, "Enabled: true"},
		{[]string{"featuregate", "processor.k8sattributes.ShareProcessorBetweenPipelines"}, "Enabled: true"},
	} {
		code, out := runVigil(t, tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("vigil %v exited %d, want %q in:\n%s", tt.args, code, tt.want, out)
		}
	}
}

// TestValidateBadConfigs checks that `vigil validate` rejects each broken
// config with a non-zero exit and a message that names the key and the rule.
func TestValidateBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"bad_unknown_exporter_type.yaml", `'exporters' unknown type: "prometheus_remote_writ"`},
		{"bad_undefined_exporter.yaml", `service::pipelines::traces: references exporter "otlp/jaeger" which is not configured`},
		{"bad_receiver_key.yaml", `'otlpreceiver.Config' has invalid keys: protocol`},
		{"bad_memory_limiter.yaml", `processors::memory_limiter: 'limit_mib' or 'limit_percentage' must be greater than zero`},
		{"bad_batch_sizes.yaml", `processors::batch: send_batch_max_size must be greater or equal to send_batch_size`},
		{"bad_queue_size.yaml", "exporters::otlp::sending_queue: `queue_size` must be positive"},
		{"bad_yaml.yaml", `did not find expected key`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			code, out := runVigil(t, "validate", "--config", filepath.Join("testdata", tt.file))
			if code == 0 {
				t.Fatalf("vigil validate accepted %s:\n%s", tt.file, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("message does not contain %q:\n%s", tt.want, out)
			}
		})
	}
}

func TestDefaultConfigProviderRejectsOtherNames(t *testing.T) {
	code, out := runVigil(t, "validate", "--config", "vigil:other")
	if code == 0 || !strings.Contains(out, `unknown config "vigil:other"`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}
