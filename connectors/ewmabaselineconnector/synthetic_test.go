// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// t0 is the start of every synthetic series: midnight UTC, so seasonal slots
// line up with hours of the day.
var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

type sample struct {
	ts time.Time
	v  float64
}

// event is a transition seen in the alert log records.
type event struct {
	state string
	ts    time.Time
	score float64
}

// run is what a synthetic series produced.
type run struct {
	events   []event
	scores   map[int64]float64 // by sample timestamp
	baseline map[int64]float64
	outputs  int // derived data points
	nonFinte int // NaN/Inf among derived values
	skipped  [numReasons]int64
}

func (r *run) count(state string) int {
	n := 0
	for _, e := range r.events {
		if e.state == state {
			n++
		}
	}
	return n
}

func (r *run) first(state string) (event, bool) {
	for _, e := range r.events {
		if e.state == state {
			return e, true
		}
	}
	return event{}, false
}

func testRule(mod func(*RuleConfig)) RuleConfig {
	r := NewDefaultRuleConfig()
	r.Name = "test"
	r.Metric = "m"
	r.HalfLife = 10 * time.Minute
	r.For = 30 * time.Second
	// These tests pin `for`; immediate_score has its own test.
	r.ImmediateScore = 0
	r.Seasonality = configoptional.None[SeasonalityConfig]()
	if mod != nil {
		mod(&r)
	}
	return r
}

func newTestEngine(t testing.TB, rules ...RuleConfig) *engine {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = rules
	cfg.Alertmanager = configoptional.None[AlertmanagerConfig]()
	require.NoError(t, cfg.Validate())
	e, err := newEngine(cfg, component.MustNewID(metadata.Type.String()), componenttest.NewNopTelemetrySettings())
	require.NoError(t, err)
	return e
}

// testClock is an engine's wall clock (the one idle eviction reads), moved
// by the test.
type testClock struct{ t time.Time }

// useTestClock makes a testClock e's wall clock.
func useTestClock(e *engine) *testClock {
	c := &testClock{t: time.Unix(1_000_000, 0)}
	e.now = func() time.Time { return c.t }
	return c
}

func (c *testClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// gaugeBatch builds one resource with one gauge metric "m" holding the samples.
func gaugeBatch(samples []sample, attrs map[string]any) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "synthetic")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m")
	dps := m.SetEmptyGauge().DataPoints()
	for _, s := range samples {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(s.ts))
		dp.SetDoubleValue(s.v)
		_ = dp.Attributes().FromRaw(attrs)
	}
	return md
}

// feed runs samples through e in batches of batchSize and collects the results.
func feed(e *engine, r *run, samples []sample, batchSize int, build func([]sample) pmetric.Metrics) {
	if r.scores == nil {
		r.scores, r.baseline = map[int64]float64{}, map[int64]float64{}
	}
	for i := 0; i < len(samples); i += batchSize {
		b := e.process(build(samples[i:min(i+batchSize, len(samples))]))
		for j := range b.skipped {
			r.skipped[j] += b.skipped[j]
		}
		rms := b.metrics.ResourceMetrics()
		for k := 0; k < rms.Len(); k++ {
			ms := rms.At(k).ScopeMetrics().At(0).Metrics()
			for l := 0; l < ms.Len(); l++ {
				m := ms.At(l)
				dps := m.Gauge().DataPoints()
				for p := 0; p < dps.Len(); p++ {
					v := dps.At(p).DoubleValue()
					r.outputs++
					if !finite(v) {
						r.nonFinte++
					}
					switch {
					case strings.HasSuffix(m.Name(), "_score"):
						r.scores[int64(dps.At(p).Timestamp())] = v
					case strings.HasSuffix(m.Name(), "_baseline"):
						r.baseline[int64(dps.At(p).Timestamp())] = v
					}
				}
			}
		}
		rls := b.logs.ResourceLogs()
		for k := 0; k < rls.Len(); k++ {
			lrs := rls.At(k).ScopeLogs().At(0).LogRecords()
			for l := 0; l < lrs.Len(); l++ {
				lr := lrs.At(l)
				st, _ := lr.Attributes().Get("alert.state")
				sc, _ := lr.Attributes().Get("alert.score")
				r.events = append(r.events, event{state: st.Str(), ts: lr.Timestamp().AsTime(), score: sc.Double()})
			}
		}
	}
}

func runGauge(t testing.TB, rule RuleConfig, samples []sample) *run {
	e := newTestEngine(t, rule)
	r := &run{}
	feed(e, r, samples, 100, func(s []sample) pmetric.Metrics { return gaugeBatch(s, map[string]any{"host": "a"}) })
	return r
}

// regular returns n samples every step from t0 with values f(i, t).
func regular(n int, step time.Duration, f func(i int, t time.Time) float64) []sample {
	out := make([]sample, n)
	for i := range out {
		ts := t0.Add(time.Duration(i) * step)
		out[i] = sample{ts, f(i, ts)}
	}
	return out
}

// dailySine is the daily swing of the seasonal tests: 100 + 50·sin over a
// day from t0 (peak 150 at hour 6, trough 50 at hour 18).
func dailySine(ts time.Time) float64 {
	phase := 2 * math.Pi * float64(ts.Sub(t0)%(24*time.Hour)) / float64(24*time.Hour)
	return 100 + 50*math.Sin(phase)
}

// dailyBurst returns n samples every step from t0: dailySine plus N(0, 2²)
// noise from rng, and 40 more during [burst, burst+d).
func dailyBurst(n int, step time.Duration, rng *rand.Rand, burst time.Time, d time.Duration) []sample {
	return regular(n, step, func(_ int, ts time.Time) float64 {
		v := dailySine(ts) + 2*rng.NormFloat64()
		if !ts.Before(burst) && ts.Before(burst.Add(d)) {
			v += 40
		}
		return v
	})
}

// hourlySlots is the seasonality of the seasonal tests: a day of 24 slots.
func hourlySlots() configoptional.Optional[SeasonalityConfig] {
	return configoptional.Some(SeasonalityConfig{Period: 24 * time.Hour, Slots: 24})
}

// requireOneAlertIn asserts that r fired exactly once, inside [from, to).
func requireOneAlertIn(t *testing.T, r *run, from, to time.Time) {
	t.Helper()
	require.Equal(t, 1, r.count("firing"), "exactly one alert, for the burst: %v", r.events)
	fire, _ := r.first("firing")
	assert.False(t, fire.ts.Before(from), "fires once the burst starts (at %s)", fire.ts)
	assert.True(t, fire.ts.Before(to), "fires during the burst (at %s)", fire.ts)
}

func TestSyntheticSeries(t *testing.T) {
	t.Parallel()
	const step = 10 * time.Second
	stepAt := 500 // index of the step / spike

	type want struct {
		firing, resolved, pending int
	}
	tests := []struct {
		name    string
		rule    RuleConfig
		samples func() []sample
		want    want
		check   func(t *testing.T, r *run, s []sample)
	}{
		{
			name: "constant plus gaussian noise: no alert in 10000 points",
			rule: testRule(func(r *RuleConfig) { r.For = time.Minute }),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(1, 2))
				return regular(10_000, step, func(int, time.Time) float64 { return 100 + 5*rng.NormFloat64() })
			},
			want: want{firing: 0, resolved: 0},
		},
		{
			name: "step up: fires exactly `for` after the step, then resolves",
			rule: testRule(nil),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(3, 4))
				return regular(2000, step, func(i int, _ time.Time) float64 {
					v := 100 + rng.NormFloat64()
					if i >= stepAt {
						v += 20
					}
					return v
				})
			},
			want: want{firing: 1, resolved: 1, pending: 1},
			check: func(t *testing.T, r *run, s []sample) {
				fire, _ := r.first("firing")
				assert.Equal(t, s[stepAt].ts.Add(30*time.Second), fire.ts, "fires at the first sample `for` (30s) after the step")
				res, _ := r.first("resolved")
				assert.True(t, res.ts.After(fire.ts), "resolves after firing")
				assert.Less(t, res.ts.Sub(fire.ts), 3*10*time.Minute, "resolves within 3 half-lives as the baseline adapts")
			},
		},
		{
			name: "single spike: score above k, no alert with for > 0",
			rule: testRule(nil),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(5, 6))
				return regular(1000, step, func(i int, _ time.Time) float64 {
					if i == stepAt {
						return 150
					}
					return 100 + rng.NormFloat64()
				})
			},
			want: want{firing: 0, resolved: 0, pending: 1},
			check: func(t *testing.T, r *run, s []sample) {
				assert.Greater(t, r.scores[s[stepAt].ts.UnixNano()], 4.0, "the spike scores above k")
				assert.Equal(t, 1, r.count("cancelled"), "the pending alert is dropped on the next normal sample")
			},
		},
		{
			name: "slow drift: no alert",
			rule: testRule(nil),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(7, 8))
				// +50 (50σ) over one day: the EWMA lags by slope·h/ln2 ≈ 0.5σ.
				return regular(8640, step, func(i int, _ time.Time) float64 { return 100 + 50*float64(i)/8640 + rng.NormFloat64() })
			},
			want: want{firing: 0, resolved: 0},
			check: func(t *testing.T, r *run, s []sample) {
				last := s[len(s)-1]
				assert.InDelta(t, last.v, r.baseline[last.ts.UnixNano()], 3, "the baseline follows the drift")
			},
		},
		{
			name: "flat zero variance: no alert, no NaN",
			rule: testRule(nil),
			samples: func() []sample {
				return regular(10_000, step, func(int, time.Time) float64 { return 0 })
			},
			want: want{firing: 0, resolved: 0},
			check: func(t *testing.T, r *run, _ []sample) {
				assert.Equal(t, 0, r.nonFinte)
				assert.Equal(t, 5*(10_000-1), r.outputs)
			},
		},
		{
			name: "flat non-zero with float jitter: relative σ floor prevents alerts",
			rule: testRule(nil),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(9, 10))
				// 1e-7 relative jitter, far below the 1% relative floor.
				return regular(10_000, step, func(int, time.Time) float64 { return 1e6 * (1 + 1e-7*rng.NormFloat64()) })
			},
			want:  want{firing: 0, resolved: 0},
			check: func(t *testing.T, r *run, _ []sample) { assert.Equal(t, 0, r.nonFinte) },
		},
		{
			name: "direction up ignores a drop",
			rule: testRule(func(r *RuleConfig) { r.Direction = DirectionUp }),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(11, 12))
				return regular(1000, step, func(i int, _ time.Time) float64 {
					v := 100 + rng.NormFloat64()
					if i >= stepAt {
						v -= 20
					}
					return v
				})
			},
			want: want{firing: 0, resolved: 0},
		},
		{
			name: "warm-up: a step inside the warm-up does not alert",
			rule: testRule(func(r *RuleConfig) { r.Warmup.Samples = 100 }),
			samples: func() []sample {
				rng := rand.New(rand.NewPCG(13, 14))
				return regular(1000, step, func(i int, _ time.Time) float64 {
					v := 100 + rng.NormFloat64()
					if i >= 50 {
						v += 20
					}
					return v
				})
			},
			want: want{firing: 0, resolved: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.samples()
			r := runGauge(t, tt.rule, s)
			assert.Equal(t, tt.want.firing, r.count("firing"), "firing transitions: %v", r.events)
			assert.Equal(t, tt.want.resolved, r.count("resolved"), "resolved transitions")
			if tt.want.pending > 0 {
				assert.Equal(t, tt.want.pending, r.count("pending"), "pending transitions")
			}
			assert.Equal(t, 0, r.nonFinte, "derived values are finite")
			if tt.check != nil {
				tt.check(t, r, s)
			}
		})
	}
}

func TestSeasonalDaily(t *testing.T) {
	t.Parallel()
	const step = 5 * time.Minute
	const days = 14
	burstStart := t0.Add((days-1)*24*time.Hour + 18*time.Hour) // trough of the sine
	burstEnd := burstStart.Add(time.Hour)
	// An off-peak burst: still below the daily peak of 150.
	samples := dailyBurst(days*288, step, rand.New(rand.NewPCG(21, 22)), burstStart, time.Hour)
	seasonal := testRule(func(r *RuleConfig) {
		r.For = 15 * time.Minute
		// A long global memory: without seasons it would average the day out.
		r.HalfLife = 6 * time.Hour
		r.Seasonality = hourlySlots()
	})

	r := runGauge(t, seasonal, samples)
	// The burst scores above immediate_score, so it fires on its first
	// sample instead of `for` later.
	requireOneAlertIn(t, r, burstStart, burstEnd)
	assert.Equal(t, 1, r.count("resolved"))

	// The same series without seasonality and the same memory: the daily
	// swing inflates σ so far that the burst goes unnoticed. This is why the
	// seasonal baseline exists (and shows the test above can fail).
	flat := seasonal
	flat.Seasonality = configoptional.None[SeasonalityConfig]()
	rf := runGauge(t, flat, samples)
	assert.Equal(t, 0, rf.count("firing"), "without seasonality the burst hides in the daily swing")
}

// TestIrregularEqualsRegular: a signal constant between knots, sampled every
// 10s or at random gaps of 1–30s that include the knots, gives the same mean
// and variance at every knot (α = 1 − 2^(−Δt/h) composes exactly).
func TestIrregularEqualsRegular(t *testing.T) {
	t.Parallel()
	// No verdicts, so no clipping or slowdown: the plain EWMA composes exactly.
	rule := testRule(func(r *RuleConfig) { r.Warmup.Samples = 1 << 30 })
	p := newParams(&rule)
	knot := 10 * time.Minute
	rng := rand.New(rand.NewPCG(31, 32))
	levels := make([]float64, 50)
	for i := range levels {
		levels[i] = 100 + 10*rng.NormFloat64()
	}
	// value at t: the level of the knot interval (k−1, k] holding t.
	value := func(ts time.Time) float64 {
		d := ts.Sub(t0)
		k := int((d + knot - 1) / knot)
		return levels[min(k, len(levels)-1)]
	}
	end := t0.Add(time.Duration(len(levels)-1) * knot)
	var reg, irr []time.Time
	for ts := t0; !ts.After(end); ts = ts.Add(10 * time.Second) {
		reg = append(reg, ts)
	}
	for ts := t0; !ts.After(end); {
		irr = append(irr, ts)
		next := ts.Add(time.Duration(1+rng.IntN(30)) * time.Second)
		if nk := t0.Add((ts.Sub(t0)/knot + 1) * knot); next.After(nk) {
			next = nk // never skip a knot
		}
		ts = next
	}
	stateAt := func(times []time.Time) map[time.Time]ewma {
		var s series
		out := map[time.Time]ewma{}
		for _, ts := range times {
			s.observe(&p, nil, ts.UnixNano(), value(ts))
			if ts.Sub(t0)%knot == 0 {
				out[ts] = s.g
			}
		}
		return out
	}
	a, b := stateAt(reg), stateAt(irr)
	require.Len(t, b, len(a))
	require.Greater(t, len(irr), 100)
	for ts, ea := range a {
		eb := b[ts]
		assert.InEpsilon(t, ea.mean, eb.mean, 1e-9, "mean at %s", ts)
		if ea.vari > 1e-12 {
			assert.InEpsilon(t, ea.vari, eb.vari, 1e-9, "variance at %s", ts)
		}
	}
}

func counterBatch(samples []sample, start time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, s := range samples {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		dp.SetTimestamp(pcommon.NewTimestampFromTime(s.ts))
		dp.SetDoubleValue(s.v)
	}
	return md
}

func TestCounterReset(t *testing.T) {
	t.Parallel()
	const step = 10 * time.Second
	rule := testRule(func(r *RuleConfig) { r.Value = ValueCounterRate })
	rng := rand.New(rand.NewPCG(41, 42))
	const resetAt = 500
	total := 0.0
	samples := regular(1000, step, func(i int, _ time.Time) float64 {
		if i == resetAt {
			total = 0 // process restarted: the counter starts again
		}
		total += 100 + 5*rng.NormFloat64() // ≈10/s
		return total
	})
	e := newTestEngine(t, rule)
	r := &run{}
	// The start timestamp stays the same: only the value drop shows the reset.
	feed(e, r, samples, 100, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	assert.Equal(t, int64(1), r.skipped[reasonCounterReset])
	assert.Equal(t, 0, r.count("firing"))
	assert.Equal(t, 0, r.count("pending"), "the reset interval is skipped, so nothing even looks anomalous: %v", r.events)
	last := samples[len(samples)-1]
	assert.InDelta(t, 10.0, r.baseline[last.ts.UnixNano()], 0.5, "rate baseline stays ≈10/s")

	// A new start timestamp is a reset too, even when the value grew.
	e2 := newTestEngine(t, rule)
	r2 := &run{}
	feed(e2, r2, samples[:10], 10, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	later := []sample{{samples[10].ts, samples[10].v + 1e6}}
	feed(e2, r2, later, 1, func(s []sample) pmetric.Metrics { return counterBatch(s, t0.Add(time.Minute)) })
	assert.Equal(t, int64(1), r2.skipped[reasonCounterReset])
}

// TestBadInputNeverPoisons: NaN, ±Inf, duplicate and out-of-order timestamps
// and a type change are skipped and counted, and the derived series are
// exactly those of the clean input.
func TestBadInputNeverPoisons(t *testing.T) {
	t.Parallel()
	rule := testRule(nil)
	rng := rand.New(rand.NewPCG(51, 52))
	clean := regular(300, 10*time.Second, func(int, time.Time) float64 { return 100 + rng.NormFloat64() })

	var dirty []sample
	for i, s := range clean {
		dirty = append(dirty, s)
		switch i % 50 {
		case 10:
			dirty = append(dirty, sample{s.ts.Add(time.Second), math.NaN()})
		case 20:
			dirty = append(dirty, sample{s.ts.Add(time.Second), math.Inf(1)})
		case 30:
			dirty = append(dirty, sample{s.ts, 1e9}) // duplicate timestamp
		case 40:
			dirty = append(dirty, sample{s.ts.Add(-time.Second), -1e9}) // out of order
		}
	}
	a := runGauge(t, rule, clean)
	e := newTestEngine(t, rule)
	b := &run{}
	feed(e, b, dirty, 7, func(s []sample) pmetric.Metrics { return gaugeBatch(s, map[string]any{"host": "a"}) })
	// The same series as a sum with an int value: a type change.
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "synthetic")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m")
	dp := m.SetEmptySum().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(clean[len(clean)-1].ts.Add(time.Minute)))
	dp.SetIntValue(7)
	dp.Attributes().PutStr("host", "a")
	bt := e.process(md)

	assert.Equal(t, int64(12), b.skipped[reasonNaNInf], "6 NaN + 6 Inf")
	assert.Equal(t, int64(6), b.skipped[reasonDuplicate])
	assert.Equal(t, int64(6), b.skipped[reasonOutOfOrder])
	assert.Equal(t, int64(1), bt.skipped[reasonTypeChange])
	assert.Equal(t, a.baseline, b.baseline, "bad points leave the baseline exactly as the clean run")
	assert.Equal(t, a.scores, b.scores)
}

// TestRestartEqualsNoRestart: state saved and restored half-way gives
// bit-identical outputs and transitions to one uninterrupted run.
func TestRestartEqualsNoRestart(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(61, 62))
	rule := testRule(func(r *RuleConfig) {
		r.Seasonality = configoptional.Some(SeasonalityConfig{Period: time.Hour, Slots: 6})
	})
	samples := regular(3000, 10*time.Second, func(i int, _ time.Time) float64 {
		v := 100 + rng.NormFloat64()
		if i >= 1490 && i < 1600 {
			v += 30 // an alert that is firing across the restart
		}
		return v
	})
	build := func(s []sample) pmetric.Metrics { return gaugeBatch(s, map[string]any{"host": "a"}) }
	whole := &run{}
	feed(newTestEngine(t, rule), whole, samples, 50, build)

	first := newTestEngine(t, rule)
	split := &run{}
	feed(first, split, samples[:1500], 50, build)
	first.mu.Lock()
	state := first.encodeState()
	first.mu.Unlock()
	second := newTestEngine(t, rule)
	second.mu.Lock()
	n, err := second.decodeState(state)
	second.mu.Unlock()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	feed(second, split, samples[1500:], 50, build)

	// The burst spans two seasonal slots, so it may fire once per slot.
	require.GreaterOrEqual(t, whole.count("firing"), 1, "%v", whole.events)
	assert.Equal(t, whole.events, split.events)
	assert.Equal(t, whole.baseline, split.baseline)
	assert.Equal(t, whole.scores, split.scores)
}

func TestSeriesStateSize(t *testing.T) {
	size := unsafe.Sizeof(series{})
	t.Logf("series state: %d bytes (+ 16 bytes per seasonal slot)", size)
	assert.LessOrEqual(t, size, uintptr(256))
	assert.Equal(t, uintptr(16), unsafe.Sizeof(slot{}))
}

func TestFinite(t *testing.T) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64} {
		assert.True(t, finite(x), "%g", x)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		assert.False(t, finite(x), "%g", x)
	}
}

// TestBiasCorrection: σ is read as √(S/W) with W = 1 − Π(1−α), so right
// after the first updates it estimates the residual spread, not a fraction
// of it: a young series of ±1 alternating residuals reads σ ≈ 1.
func TestBiasCorrection(t *testing.T) {
	rule := testRule(func(r *RuleConfig) { r.Warmup.Samples = 1 << 30 }) // no clipping
	p := newParams(&rule)
	var s series
	for i := range 40 {
		x := 10.0
		if i > 0 {
			x += float64(1 - 2*(i%2)) // 10, 9, 11, 9, 11, ...
		}
		s.observe(&p, nil, int64(i)*int64(10*time.Second), x)
	}
	sigma := math.Sqrt(s.g.vari / s.weight)
	assert.InDelta(t, 1, sigma, 0.05, "spread of a ±1 alternation around its mean")
	assert.Less(t, s.weight, 0.5, "40 samples of a 10m half-life at 10s: little weight yet")
	assert.Less(t, math.Sqrt(s.g.vari), 0.7, "without the correction σ would read low")
}

// TestWholeCountResolution: an error counter at exactly 0 sampled every
// 15 m, with three bursts of a few hundred errors in one interval each.
// Every burst fires: a counter that counts whole events resolves one event
// per interval, so the first burst does not set the series' resolution to
// its own size (before, it did, and the second and third bursts scored
// about 1). A single error is still not an anomaly; a counter with a
// fractional increment falls back to the resolution it has shown.
func TestWholeCountResolution(t *testing.T) {
	t.Parallel()
	const step = 15 * time.Minute
	rule := NewDefaultRuleConfig()
	rule.Name, rule.Metric, rule.Value = "errors", "m", ValueCounterRate
	bursts := map[int]float64{400: 300, 700: 180, 1000: 450}
	single := 1200
	mk := func(extra float64) []sample {
		total := 0.0
		return regular(1300, step, func(i int, _ time.Time) float64 {
			total += bursts[i]
			if i == single {
				total++
			}
			if i == 5 {
				total += extra
			}
			return total
		})
	}
	samples := mk(0)
	e := newTestEngine(t, rule)
	r := &run{}
	feed(e, r, samples, 100, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	for i := range bursts {
		assert.Greater(t, r.scores[samples[i].ts.UnixNano()], rule.K, "burst at %d", i)
	}
	assert.Equal(t, 3, r.count("firing"), "%v", r.events)
	assert.Less(t, r.scores[samples[single].ts.UnixNano()], rule.K, "one error in 15 m is not an anomaly")
	e.index.each(func(_ uint64, idx int32) { assert.Equal(t, uint8(quantWhole), e.slab[idx].quant) })

	// One increment of 0.5: no longer a whole-count series.
	e2 := newTestEngine(t, rule)
	r2 := &run{}
	feed(e2, r2, mk(0.5), 100, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	e2.index.each(func(_ uint64, idx int32) { assert.Equal(t, uint8(quantFractional), e2.slab[idx].quant) })
}
