// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadatatest"
)

// series flattens a scrape into "resource|metric|attributes" → value, with
// the resource named by its cgroup path ("node" for the node's resource).
type series map[string]float64

func flatten(t *testing.T, md pmetric.Metrics) (series, map[string]pcommon.Map) {
	t.Helper()
	out := series{}
	resources := map[string]pcommon.Map{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		res := "node"
		if p, ok := rm.Resource().Attributes().Get("vigil.cgroup.path"); ok {
			res = p.Str()
		}
		_, dup := resources[res]
		require.False(t, dup, "resource %s emitted twice", res)
		resources[res] = rm.Resource().Attributes()
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					require.True(t, m.Sum().IsMonotonic(), m.Name())
					require.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality(), m.Name())
					dps = m.Sum().DataPoints()
				default:
					t.Fatalf("unexpected metric type %s of %s", m.Type(), m.Name())
				}
				for l := 0; l < dps.Len(); l++ {
					dp := dps.At(l)
					var attrs []string
					dp.Attributes().Range(func(k string, v pcommon.Value) bool {
						attrs = append(attrs, k+"="+v.AsString())
						return true
					})
					sort.Strings(attrs)
					key := res + "|" + m.Name() + "|" + strings.Join(attrs, ",")
					_, dup := out[key]
					require.False(t, dup, "series %s twice", key)
					v := float64(dp.IntValue())
					if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
						v = dp.DoubleValue()
					}
					out[key] = v
				}
			}
		}
	}
	return out, resources
}

// fixtureConfig points a config at a fixture tree under testdata/<name>: its
// mountinfo.tmpl with @ROOT@ replaced by the tree's absolute path is
// written to a temporary directory.
func fixtureConfig(t *testing.T, name string) *Config {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("testdata", name))
	require.NoError(t, err)
	tmpl, err := os.ReadFile(filepath.Join(root, "mountinfo.tmpl"))
	require.NoError(t, err)
	mi := filepath.Join(t.TempDir(), "mountinfo")
	require.NoError(t, os.WriteFile(mi, []byte(strings.ReplaceAll(string(tmpl), "@ROOT@", root)), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.CgroupRoot = filepath.Join(root, "sys/fs/cgroup")
	cfg.MountinfoPath = mi
	cfg.PressurePath = filepath.Join(root, "proc/pressure")
	return cfg
}

// startScraper builds and starts a scraper with telemetry the test reads.
func startScraper(t *testing.T, cfg *Config) (*cgroupScraper, *componenttest.Telemetry) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	s := newCgroupScraper(cfg, metadatatest.NewSettings(tel))
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
	return s, tel
}

func scrapeOnce(t *testing.T, s *cgroupScraper) pmetric.Metrics {
	t.Helper()
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	return md
}

func key(res, metric string, attrs ...string) string {
	sort.Strings(attrs)
	return fmt.Sprintf("%s|%s|%s", res, metric, strings.Join(attrs, ","))
}
