// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadTargets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "targets")
	require.NoError(t, os.WriteFile(path, []byte(`# comment
ocb   go.opentelemetry.io/collector/cmd/builder v0.165.0 .
prom  github.com/prometheus/prometheus v0.311.1 ./cmd/prometheus,./cmd/promtool remove_all_sd
kube  k8s.io/kubernetes v1.37.2 ./cmd/kube-apiserver staging=v0.37.2
both  k8s.io/kubernetes v1.37.2 ./cmd/kubectl tagA staging=v0.37.2
`), 0o600))
	ts, err := readTargets(path)
	require.NoError(t, err)
	assert.Equal(t, []target{
		{name: "ocb", module: "go.opentelemetry.io/collector/cmd/builder", version: "v0.165.0", pkgs: []string{"."}},
		{name: "prom", module: "github.com/prometheus/prometheus", version: "v0.311.1", pkgs: []string{"./cmd/prometheus", "./cmd/promtool"}, tags: "remove_all_sd"},
		{name: "kube", module: "k8s.io/kubernetes", version: "v1.37.2", pkgs: []string{"./cmd/kube-apiserver"}, staging: "v0.37.2"},
		{name: "both", module: "k8s.io/kubernetes", version: "v1.37.2", pkgs: []string{"./cmd/kubectl"}, tags: "tagA", staging: "v0.37.2"},
	}, ts)

	bad := filepath.Join(t.TempDir(), "bad")
	require.NoError(t, os.WriteFile(bad, []byte("x m v . a b\n"), 0o600))
	_, err = readTargets(bad)
	assert.ErrorContains(t, err, "two build tag lists")
}
