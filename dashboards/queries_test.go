// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSubstitute(t *testing.T) {
	vars := map[string]string{"pod": "p-1", "__rate_interval": "1m", "metric": "m"}
	tests := []struct {
		name, in, want string
		unresolved     []string
	}{
		{"plain", `rate(x{pod=~"$pod"}[$__rate_interval])`, `rate(x{pod=~"p-1"}[1m])`, nil},
		{"braces", `{__name__=~"${metric}_baseline.*"}`, `{__name__=~"m_baseline.*"}`, nil},
		{"format", `{pod=~"${pod:regex}"}`, `{pod=~"p-1"}`, nil},
		{"brackets", `x{pod="[[pod]]"}`, `x{pod="p-1"}`, nil},
		{"unknown kept", `x{ns="$namespace"}`, `x{ns="$namespace"}`, []string{"namespace"}},
		{"longest name", `x{a="$podx"}`, `x{a="$podx"}`, []string{"podx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Substitute(tt.in, vars))
			assert.Equal(t, tt.unresolved, Unresolved(tt.in, vars))
		})
	}
}

func TestLoadQueriesCoversEveryPanel(t *testing.T) {
	qs, err := LoadQueries(".")
	assert.NoError(t, err)
	perFile := map[string]int{}
	for _, q := range qs {
		perFile[q.File]++
		assert.NotEmpty(t, q.Datasource, q.String())
	}
	for _, name := range FileNames() {
		want := 0
		for _, p := range All()[name].Panels {
			if p.Panel != nil {
				want += len(p.Panel.Targets)
			}
		}
		assert.Equalf(t, want, perFile[name], "%s: queries read from the JSON", name)
	}
	vs, err := LoadLabelVariables(".")
	assert.NoError(t, err)
	assert.NotEmpty(t, vs)
}
