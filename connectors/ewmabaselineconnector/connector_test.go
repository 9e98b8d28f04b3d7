// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap/zaptest"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadatatest"
)

func stepSamples(n, stepAt int, seed uint64) []sample {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	return regular(n, 10*time.Second, func(i int, _ time.Time) float64 {
		v := 100 + rng.NormFloat64()
		if i >= stepAt {
			v += 20
		}
		return v
	})
}

type testHost struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h testHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// pair builds both instances of one component ID, as the collector does
// when the connector sits in a metrics and a logs pipeline.
func pair(t *testing.T, f connector.Factory, cfg *Config, set connector.Settings) (connector.Metrics, connector.Metrics, *consumertest.MetricsSink, *consumertest.LogsSink) {
	t.Helper()
	ms, ls := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	mm, err := f.CreateMetricsToMetrics(context.Background(), set, cfg, ms)
	require.NoError(t, err)
	ml, err := f.CreateMetricsToLogs(context.Background(), set, cfg, ls)
	require.NoError(t, err)
	return mm, ml, ms, ls
}

func countState(ls *consumertest.LogsSink, state string) int {
	n := 0
	for _, l := range ls.AllLogs() {
		for i := 0; i < l.ResourceLogs().Len(); i++ {
			lrs := l.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
			for j := 0; j < lrs.Len(); j++ {
				if v, _ := lrs.At(j).Attributes().Get("alert.state"); v.Str() == state {
					n++
				}
			}
		}
	}
	return n
}

func TestConnectorSharesOneEngine(t *testing.T) {
	t.Parallel()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	f := NewFactory()
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{testRule(nil)}
	mm, ml, ms, ls := pair(t, f, cfg, metadatatest.NewSettings(tel))
	host := componenttest.NewNopHost()
	require.NoError(t, mm.Start(context.Background(), host))
	require.NoError(t, ml.Start(context.Background(), host))

	s := stepSamples(1000, 500, 1)
	for i := 0; i < len(s); i += 100 {
		md := gaugeBatch(s[i:i+100], map[string]any{"host": "a"})
		// The collector fans the same data out to both instances.
		require.NoError(t, mm.ConsumeMetrics(context.Background(), md))
		require.NoError(t, ml.ConsumeMetrics(context.Background(), md))
	}
	assert.Equal(t, 5*(len(s)-1), ms.DataPointCount(), "each point counted once: 5 outputs per point after the first")
	assert.Equal(t, 1, countState(ls, "firing"))
	assert.Equal(t, 1, countState(ls, "resolved"))

	// Output names and attributes.
	rm := ms.AllMetrics()[0].ResourceMetrics().At(0)
	sn, _ := rm.Resource().Attributes().Get("service.name")
	assert.Equal(t, "synthetic", sn.Str())
	var names []string
	ms0 := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms0.Len(); i++ {
		names = append(names, ms0.At(i).Name())
		host, _ := ms0.At(i).Gauge().DataPoints().At(0).Attributes().Get("host")
		assert.Equal(t, "a", host.Str())
	}
	assert.Equal(t, []string{"m_baseline", "m_upper", "m_lower", "m_score", "m_alert"}, names)

	require.NoError(t, mm.Shutdown(context.Background()))
	require.NoError(t, ml.Shutdown(context.Background()))

	metadatatest.AssertEqualConnectorEwmaBaselineProcessedPoints(t, tel, []metricdata.DataPoint[int64]{{Value: int64(len(s))}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorEwmaBaselineTrackedSeries(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorEwmaBaselineAlertTransitions(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("state", "pending")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("state", "firing")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("state", "resolved")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

func TestConnectorLogsOnly(t *testing.T) {
	t.Parallel()
	f := NewFactory()
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{testRule(nil)}
	ls := new(consumertest.LogsSink)
	ml, err := f.CreateMetricsToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), cfg, ls)
	require.NoError(t, err)
	require.NoError(t, ml.Start(context.Background(), componenttest.NewNopHost()))
	s := stepSamples(1000, 500, 2)
	require.NoError(t, ml.ConsumeMetrics(context.Background(), gaugeBatch(s, map[string]any{"host": "a"})))
	require.NoError(t, ml.Shutdown(context.Background()))
	assert.Equal(t, 1, countState(ls, "firing"))
	assert.Equal(t, 1, countState(ls, "resolved"))
}

func TestSkippedPointsAreCounted(t *testing.T) {
	t.Parallel()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = []RuleConfig{testRule(nil)}
	cfg.MaxSeries = 1
	c, err := NewFactory().CreateMetricsToMetrics(context.Background(), metadatatest.NewSettings(tel), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	s := regular(3, time.Second, func(int, time.Time) float64 { return 1 })
	require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch(s, map[string]any{"host": "a"})))
	require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch(s, map[string]any{"host": "b"}))) // over max_series
	require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch(s[2:], map[string]any{"host": "a"})))
	require.NoError(t, c.Shutdown(context.Background()))
	metadatatest.AssertEqualConnectorEwmaBaselineSkippedPoints(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("reason", "max_series")), Value: 3},
		{Attributes: attribute.NewSet(attribute.String("reason", "duplicate_timestamp")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

func TestIdleEviction(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, testRule(nil))
	clock := useTestClock(e)
	s := regular(3, time.Second, func(int, time.Time) float64 { return 1 })
	e.process(gaugeBatch(s, map[string]any{"host": "a"}))
	clock.advance(30 * time.Minute)
	e.process(gaugeBatch(s, map[string]any{"host": "b"}))
	clock.advance(45 * time.Minute) // a idle 75m, b idle 45m; idle_timeout 1h
	assert.Equal(t, 1, e.evictIdle())
	assert.Equal(t, 1, e.index.len())
	// The freed slot is reused.
	e.process(gaugeBatch(s, map[string]any{"host": "c"}))
	assert.Len(t, e.slab, 2)
	assert.Equal(t, 2, e.index.len())
}

// TestIdleEvictionSeasonal: an evicted series' seasonal slots go back to the
// slot table and the next series gets them zeroed, not the old baseline.
func TestIdleEvictionSeasonal(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, testRule(func(r *RuleConfig) {
		r.Seasonality = configoptional.Some(SeasonalityConfig{Period: time.Hour, Slots: 4})
	}))
	clock := useTestClock(e)
	// 8 samples 10 minutes apart: every 15-minute slot of the hour gets some.
	s := regular(8, 10*time.Minute, func(int, time.Time) float64 { return 1000 })
	e.process(gaugeBatch(s, map[string]any{"host": "a"}))
	require.Len(t, e.slots, 4)
	a := e.slab[0]
	for i, sl := range e.seasonOf(&a) {
		require.NotZero(t, sl.samples, "slot %d of a", i)
	}

	clock.advance(2 * time.Hour)
	require.Equal(t, 1, e.evictIdle())
	e.process(gaugeBatch(regular(1, time.Second, func(int, time.Time) float64 { return 5 }), map[string]any{"host": "b"}))
	assert.Len(t, e.slots, 4, "the freed slots are reused")
	b := e.slab[0]
	assert.Equal(t, 5.0, b.g.mean, "seeded by b's own first sample")
	for i, sl := range e.seasonOf(&b) {
		assert.Equal(t, slot{}, sl, "slot %d of b is empty (the first sample only seeds the level)", i)
	}
}

func newFileStorage(t *testing.T, dir string) (component.ID, extension.Extension) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	id := component.MustNewID("file_storage")
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return id, ext
}

// TestPersistenceThroughFileStorage restarts the connector half-way with the
// real file_storage extension and compares with an uninterrupted run.
func TestPersistenceThroughFileStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := stepSamples(2000, 1010, 3)
	build := func(part []sample) pmetric.Metrics { return gaugeBatch(part, map[string]any{"host": "a"}) }

	runPart := func(part []sample, storage bool) (*consumertest.MetricsSink, *consumertest.LogsSink) {
		cfg := createDefaultConfig().(*Config)
		cfg.Rules = []RuleConfig{testRule(nil)}
		host := testHost{Host: componenttest.NewNopHost()}
		var ext extension.Extension
		if storage {
			id, e := newFileStorage(t, dir)
			ext = e
			cfg.Storage = &id
			host.ext = map[component.ID]component.Component{id: ext}
		}
		set := connectortest.NewNopSettings(metadata.Type)
		set.Logger = zaptest.NewLogger(t)
		set.ID = component.MustNewID("ewma_baseline") // the same ID finds the same file
		mm, ml, ms, ls := pair(t, NewFactory(), cfg, set)
		require.NoError(t, mm.Start(context.Background(), host))
		require.NoError(t, ml.Start(context.Background(), host))
		for i := 0; i < len(part); i += 100 {
			require.NoError(t, mm.ConsumeMetrics(context.Background(), build(part[i:min(i+100, len(part))])))
		}
		require.NoError(t, mm.Shutdown(context.Background()))
		require.NoError(t, ml.Shutdown(context.Background()))
		if ext != nil {
			require.NoError(t, ext.Shutdown(context.Background()))
		}
		return ms, ls
	}
	wholeM, wholeL := runPart(s, false)
	runPart(s[:1000], true)
	secondM, secondL := runPart(s[1000:], true)

	// Compare the derived values of the second half.
	values := func(sink *consumertest.MetricsSink, from time.Time) map[string]float64 {
		out := map[string]float64{}
		for _, md := range sink.AllMetrics() {
			ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			for i := 0; i < ms.Len(); i++ {
				dps := ms.At(i).Gauge().DataPoints()
				for j := 0; j < dps.Len(); j++ {
					if ts := dps.At(j).Timestamp().AsTime(); !ts.Before(from) {
						out[ms.At(i).Name()+ts.String()] = dps.At(j).DoubleValue()
					}
				}
			}
		}
		return out
	}
	want, got := values(wholeM, s[1000].ts), values(secondM, s[1000].ts)
	require.Equal(t, 5*1000, len(got))
	assert.Equal(t, want, got)
	assert.Equal(t, countState(wholeL, "firing"), countState(secondL, "firing"))
	assert.Equal(t, countState(wholeL, "resolved"), countState(secondL, "resolved"))
	assert.Equal(t, 1, countState(secondL, "firing"), "the step after the restart fires without a new warm-up")
}

// amServer is an httptest Alertmanager that records posted alerts, and
// when each arrived.
type amServer struct {
	mu       sync.Mutex
	alerts   []amAlert
	received []time.Time
	srv      *httptest.Server
}

func newAMServer(t *testing.T) *amServer {
	a := &amServer{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var got []amAlert
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.alerts = append(a.alerts, got...)
		for range got {
			a.received = append(a.received, time.Now())
		}
		a.mu.Unlock()
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *amServer) snapshot() []amAlert {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]amAlert(nil), a.alerts...)
}

// arrival returns the alert posted i-th, and when it arrived.
func (a *amServer) arrival(i int) (amAlert, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.alerts[i], a.received[i]
}

func TestAlertmanagerFiringResendResolve(t *testing.T) {
	t.Parallel()
	am := newAMServer(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	rule := testRule(nil)
	rule.ClearScore = 0 // stays firing until we send the resolving point
	cfg.Rules = []RuleConfig{rule}
	amCfg := cfg.Alertmanager.GetOrInsertDefault()
	amCfg.ClientConfig.Endpoint = am.srv.URL
	amCfg.ResendInterval = 300 * time.Millisecond
	cfg.Alertmanager = configoptional.Some(*amCfg)
	require.NoError(t, cfg.Validate())
	c, err := NewFactory().CreateMetricsToMetrics(context.Background(), metadatatest.NewSettings(tel), cfg, consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))

	s := stepSamples(600, 500, 4)
	require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch(s, map[string]any{"host": "a"})))
	waitFor(t, func() bool { return len(am.snapshot()) >= 3 }) // first send + two re-sends
	first, firstArrived := am.arrival(0)
	assert.Equal(t, map[string]string{"alertname": "test", "metric": "m", "severity": "warning", "host": "a", "service_name": "synthetic"}, first.Labels)
	assert.Equal(t, s[503].ts, first.StartsAt.UTC(), "startsAt is the firing sample's time")
	// Compared with its arrival, not with now: the test may look later than
	// endsAt on a busy machine.
	assert.True(t, first.EndsAt.After(firstArrived), "a firing alert ends in the future")

	// Back to the old level: score below clear_score (0 never; so use the exact baseline).
	e := c.(*baselineConnector).e
	e.mu.Lock()
	base := e.slab[0].g.mean
	e.mu.Unlock()
	last := s[len(s)-1].ts
	require.NoError(t, c.ConsumeMetrics(context.Background(), gaugeBatch([]sample{{last.Add(10 * time.Second), base}}, map[string]any{"host": "a"})))
	waitFor(t, func() bool { // the resolving alert: its endsAt is not after its arrival
		last, arrived := am.arrival(len(am.snapshot()) - 1)
		return !last.EndsAt.After(arrived)
	})
	require.NoError(t, c.Shutdown(context.Background()))
	all := am.snapshot()
	resolved := all[len(all)-1]
	assert.Equal(t, first.Labels, resolved.Labels)
	assert.Equal(t, first.StartsAt, resolved.StartsAt)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConcurrentConsumers: receivers call ConsumeMetrics from several
// goroutines at once. The state lock covers only the update and the derived
// points are built after it; each series must still get exactly the
// outputs of a run on its own.
func TestConcurrentConsumers(t *testing.T) {
	t.Parallel()
	s := stepSamples(1000, 500, 1)
	baselines := func(ms *consumertest.MetricsSink, host string) []float64 {
		var out []float64
		for _, md := range ms.AllMetrics() {
			rms := md.ResourceMetrics()
			for i := 0; i < rms.Len(); i++ {
				ms := rms.At(i).ScopeMetrics().At(0).Metrics()
				for j := 0; j < ms.Len(); j++ {
					if ms.At(j).Name() != "m_baseline" {
						continue
					}
					dps := ms.At(j).Gauge().DataPoints()
					for k := 0; k < dps.Len(); k++ {
						if h, _ := dps.At(k).Attributes().Get("host"); h.Str() == host {
							out = append(out, dps.At(k).DoubleValue())
						}
					}
				}
			}
		}
		return out
	}
	run := func(hosts []string) (*consumertest.MetricsSink, *consumertest.LogsSink) {
		cfg := createDefaultConfig().(*Config)
		cfg.Rules = []RuleConfig{testRule(nil)}
		mm, ml, ms, ls := pair(t, NewFactory(), cfg, connectortest.NewNopSettings(metadata.Type))
		host := componenttest.NewNopHost()
		require.NoError(t, mm.Start(context.Background(), host))
		require.NoError(t, ml.Start(context.Background(), host))
		var wg sync.WaitGroup
		for _, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < len(s); i += 100 {
					assert.NoError(t, mm.ConsumeMetrics(context.Background(), gaugeBatch(s[i:i+100], map[string]any{"host": h})))
				}
			}()
		}
		wg.Wait()
		require.NoError(t, mm.Shutdown(context.Background()))
		require.NoError(t, ml.Shutdown(context.Background()))
		return ms, ls
	}

	refMS, _ := run([]string{"ref"})
	ref := baselines(refMS, "ref")
	require.Len(t, ref, len(s)-1)

	hosts := []string{"h0", "h1", "h2", "h3"}
	ms, ls := run(hosts)
	assert.Equal(t, len(hosts)*5*(len(s)-1), ms.DataPointCount())
	assert.Equal(t, len(hosts), countState(ls, "firing"))
	assert.Equal(t, len(hosts), countState(ls, "resolved"))
	for _, h := range hosts {
		assert.Equal(t, ref, baselines(ms, h), "host %s", h)
	}
}
