// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// nonSeasonalRule is the default rule without the seasonal baseline: the
// detector tests feed series with no daily pattern.
func nonSeasonalRule() RuleConfig {
	rule := NewDefaultRuleConfig()
	rule.Seasonality = configoptional.None[SeasonalityConfig]()
	return rule
}

// observeAll runs values, one per interval from t0, through one series and
// returns the results.
func observeAll(p *params, seasonal []slot, interval time.Duration, values []float64) (*series, []result) {
	s := &series{}
	out := make([]result, len(values))
	for i, x := range values {
		out[i] = s.observe(p, seasonal, t0.Add(time.Duration(i)*interval).UnixNano(), x)
	}
	return s, out
}

func noisy(n int, seed uint64, level, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]float64, n)
	for i := range out {
		out[i] = level + sd*rng.NormFloat64()
	}
	return out
}

// TestHalfLifeInSamples: with the default half-life in samples the same
// data sampled every 5m or every hour gives the same baseline, and the
// interval estimate follows the data's own interval. Below 72 s sampling
// the variance's memory is floored at varMinHalfLife of data time (the
// level's is not), so there only the level's memory is the same; the
// comparison was 10 s against 1 h before that floor.
func TestHalfLifeInSamples(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	rule.For = 0 // `for` is data time: 1m is 1 sample at 5m and at 1h
	p := newParams(&rule)
	require.Zero(t, p.ln2OverHalfLife, "the default memory is in samples")
	values := noisy(500, 1, 100, 5)
	for i := 300; i < len(values); i++ {
		values[i] += 20 // a level shift the baseline must learn at the same pace
	}
	fast, fr := observeAll(&p, nil, 5*time.Minute, values)
	slow, sr := observeAll(&p, nil, time.Hour, values)
	assert.Equal(t, int64(5*time.Minute), fast.interval)
	assert.Equal(t, int64(time.Hour), slow.interval)
	for i := range values {
		assert.InDelta(t, fr[i].baseline, sr[i].baseline, 1e-9, "sample %d", i)
		assert.InDelta(t, fr[i].score, sr[i].score, 1e-9, "sample %d", i)
	}
	// At 10 s the level keeps 100 samples (≈ 17 min), the variance 2 h.
	tenS, _ := observeAll(&p, nil, 10*time.Second, values)
	assert.InEpsilon(t, math.Ln2/float64(100*10*time.Second), p.ln2OverH(tenS), 1e-12)
	assert.InEpsilon(t, math.Ln2/float64(varMinHalfLife), p.ln2OverHVar(tenS), 1e-12)
	assert.Equal(t, p.ln2OverH(fast), p.ln2OverHVar(fast), "5 m: 100 samples > 2 h")

	// A few missed samples barely move the interval estimate.
	s := *slow
	s.observe(&p, nil, s.lastTS+int64(5*time.Hour), 100)
	assert.InEpsilon(t, float64(time.Hour), float64(s.interval), 0.15)
}

// TestSpikeDoesNotPoison: one spike of 50σ neither drags the baseline nor
// widens the band much, so an anomaly of 6σ right after it is still seen;
// with the unclipped update of the old detector it was hidden.
func TestSpikeDoesNotPoison(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	p := newParams(&rule)
	values := noisy(400, 3, 100, 1)
	values[300] = 150 // the spike
	values[310] = 106 // a real 6σ anomaly soon after
	s, res := observeAll(&p, nil, time.Minute, values)
	before := res[300]
	assert.Greater(t, before.score, 40.0, "the spike itself scores high")
	assert.InDelta(t, before.baseline, res[301].baseline, 0.05, "the spike moves the baseline by at most α·huberC·σ")
	assert.Less(t, res[309].sigma, 2*before.sigma, "σ widened by a bounded factor")
	assert.Greater(t, res[310].score, rule.K, "the next anomaly is still above k")
	assert.InDelta(t, 100, s.g.mean, 0.5)

	// Without clipping (the old West/Finch update on the raw residual) the
	// spike would have widened σ far more.
	var raw ewma
	raw.mean = 100
	a := alpha(int64(time.Minute), p.ln2OverH(s))
	vari := 1.0
	raw.vari = vari
	raw.update(50, 50, a, a)
	clipped := ewma{mean: 100, vari: vari}
	clipped.update(huberC, huberVarC, a, a)
	assert.Greater(t, raw.vari, 1.5*clipped.vari)
}

// TestLevelShiftIsFollowed: a lasting shift alerts, then becomes the new
// baseline (the robust update does not freeze it out forever).
func TestLevelShiftIsFollowed(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	p := newParams(&rule)
	values := noisy(2000, 5, 100, 1)
	for i := 500; i < len(values); i++ {
		values[i] += 20
	}
	s, res := observeAll(&p, nil, time.Minute, values)
	assert.Greater(t, res[500].score, 10.0)
	assert.Less(t, res[len(res)-1].score, rule.ClearScore, "the shift is the new normal by the end")
	assert.InDelta(t, 120, s.g.mean, 1)
	assert.Equal(t, stateOK, s.state)
}

// TestSecondShiftSeen: an hourly level with 5% noise steps by −35% twice,
// 235 samples apart. The first step fires; the level adopts it within a few
// samples without inflating σ, so the second step fires too (with the plain
// unclipped updates it left σ ×3 and the second step scored below 3).
func TestSecondShiftSeen(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	p := newParams(&rule)
	rng := rand.New(rand.NewPCG(1, 2))
	values := make([]float64, 672)
	a, b := 268, 504
	for i := range values {
		level := 50.0
		if i >= a {
			level *= 0.65
		}
		if i >= b {
			level *= 0.65
		}
		values[i] = level * (1 + 0.05*rng.NormFloat64())
	}
	s, res := observeAll(&p, nil, time.Hour, values)
	var firing []int
	for i, r := range res {
		if r.trans == transFiring {
			firing = append(firing, i)
		}
	}
	require.Len(t, firing, 2, "one alert per step")
	assert.InDelta(t, a, firing[0], 2)
	assert.InDelta(t, b, firing[1], 2)
	assert.Zero(t, s.adopt)
	assert.InDelta(t, 50*0.65*0.65, s.g.mean, 1, "the level followed both steps")
	assert.Less(t, res[b-1].sigma, 1.7*0.05*50*0.65, "σ before the second step is near the noise at the new level (×2 without adoption)")
}

// TestDriftCUSUM: a slow leak on a 10 s series (memory growing by 60% over
// 6 h, 2% noise), which the level follows with a lag of about 2σ, below k,
// is reported by the drift CUSUM once, and the alert stays firing while the
// leak lasts (the level is not snapped to a drift, which made it resolve and
// fire again every few hundred samples). The same noise without the leak
// never fires, and the CUSUM of white noise stays far from cusumH.
func TestDriftCUSUM(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	rule.For = 0
	p := newParams(&rule)
	const n, a = 4320, 1440 // 12 h at 10 s; the leak starts after 4 h
	slope := 0.6 / 2160     // of the level per sample (60% over 6 h)
	leak := noisy(n, 7, 1, 0.02)
	clean := append([]float64(nil), leak...)
	for i := a; i < n; i++ {
		leak[i] *= 1 + slope*float64(i-a)
	}

	s, res := observeAll(&p, nil, 10*time.Second, leak)
	var firing []int
	for i, r := range res {
		if r.trans == transFiring {
			firing = append(firing, i)
		}
	}
	require.Len(t, firing, 1, "one alert for the whole leak")
	assert.Greater(t, firing[0], a)
	assert.Less(t, firing[0], a+720, "within 2 h of the leak's start")
	f := res[firing[0]]
	assert.Less(t, math.Abs(leak[firing[0]]-f.baseline)/f.sigma, p.k, "the residual alone was below k: the CUSUM fired")
	assert.Equal(t, stateFiring, s.state, "still firing while the leak lasts")

	s, res = observeAll(&p, nil, 10*time.Second, clean)
	for i, r := range res {
		require.NotEqual(t, transFiring, r.trans, "noise fired at %d", i)
	}
	assert.Less(t, float64(max(s.cusUp, s.cusDown)), cusumH/4)
}

// TestVarianceCUSUM: latency noise grown 5× (same mean) for an hour on a
// 10 s series fires through the variance CUSUM within that hour, and resolves
// after the noise is back; the same series without the change never fires.
func TestVarianceCUSUM(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	p := newParams(&rule)
	const n, a, d = 8640, 4320, 360 // a day at 10 s; 1 h of 5× noise after 12 h
	clean := noisy(n, 13, 0.2, 0.006)
	wide := append([]float64(nil), clean...)
	for i := a; i < a+d; i++ {
		wide[i] = 0.2 + 5*(clean[i]-0.2)
	}

	s, res := observeAll(&p, nil, 10*time.Second, wide)
	var firing []int
	for i, r := range res {
		if r.trans == transFiring {
			firing = append(firing, i)
		}
	}
	require.NotEmpty(t, firing)
	assert.GreaterOrEqual(t, firing[0], a)
	assert.Less(t, firing[0], a+d, "within the hour of wide noise")
	assert.Equal(t, stateOK, s.state, "resolved once the noise is back")

	s, res = observeAll(&p, nil, 10*time.Second, clean)
	for i, r := range res {
		require.NotEqual(t, transFiring, r.trans, "noise fired at %d", i)
	}
	assert.Less(t, float64(s.cusVar), varH/4)
}

// TestSigmaFloor: the floor is the largest of the series' own resolution,
// the relative and the absolute floor; a series that sat at exactly 0
// scores at most maxScore, and no finite input scores above it.
func TestSigmaFloor(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	rule.SigmaFloor.Relative = 0
	p := newParams(&rule)

	// Exactly 0 for a day, then one error: the score is bounded.
	zeros := make([]float64, 1440)
	s, res := observeAll(&p, nil, time.Minute, append(zeros, 1))
	assert.Equal(t, maxScore, res[len(res)-1].score, "first move of a flat-zero series: capped, not 1e9")
	assert.Equal(t, 1.0, s.resolution, "its resolution is now known")

	// An integer counter that is mostly 0 with occasional 1s: the floor of
	// one resolution step keeps a single 1 below k; a burst of 20 is not.
	counts := make([]float64, 3000)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range counts {
		if rng.IntN(100) == 0 {
			counts[i] = 1
		}
	}
	counts[2500], counts[2600] = 1, 20
	_, res = observeAll(&p, nil, time.Minute, counts)
	assert.Less(t, res[2500].score, rule.K, "a single count is not an anomaly")
	assert.GreaterOrEqual(t, res[2500].sigma, 1.0, "σ ≥ one resolution step")
	assert.Greater(t, res[2600].score, rule.K, "a burst is")

	// The relative floor: 1% of the expected value.
	rule.SigmaFloor.Relative = 0.01
	p = newParams(&rule)
	flat := make([]float64, 100)
	for i := range flat {
		flat[i] = 1e6
	}
	_, res = observeAll(&p, nil, time.Minute, flat)
	assert.Equal(t, 1e4, res[99].sigma)
}

// TestScoreBound: whatever the finite input, the score is within [0, maxScore]
// and the band finite.
func TestScoreBound(t *testing.T) {
	t.Parallel()
	rule := NewDefaultRuleConfig()
	rule.Warmup.Samples = 1
	p := newParams(&rule)
	rng := rand.New(rand.NewPCG(9, 10))
	seasonal := make([]slot, p.slots)
	var s series
	ts := t0.UnixNano()
	for i := range 20000 {
		var x float64
		switch i % 4 {
		case 0:
			x = 0
		case 1:
			x = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(300)-150))
		case 2:
			x = math.Float64frombits(rng.Uint64())
		default:
			x = 1e-300
		}
		if !finite(x) {
			continue
		}
		ts += int64(1 + rng.IntN(int(time.Hour)))
		res := s.observe(&p, seasonal, ts, x)
		if res.rejected || !res.emit {
			continue
		}
		require.GreaterOrEqual(t, res.score, 0.0)
		require.LessOrEqual(t, res.score, maxScore)
		require.True(t, finite(res.baseline) && finite(res.sigma) && res.sigma > 0, "sample %d: %+v", i, res)
	}
}

// TestSeasonalFromFirstPeriod: the slot offsets learned in the first day
// are used on the second, so the daily swing is expected on day 2 already
// (the old per-slot baselines waited for warmup_samples per slot, days at
// 5-minute data), and an off-peak burst on day 2 is found.
func TestSeasonalFromFirstPeriod(t *testing.T) {
	t.Parallel()
	const step = 5 * time.Minute
	burst := t0.Add(24*time.Hour + 18*time.Hour)
	samples := dailyBurst(2*288, step, rand.New(rand.NewPCG(11, 12)), burst, time.Hour)
	rule := testRule(func(r *RuleConfig) {
		r.HalfLife = 0
		r.For = 10 * time.Minute
		r.Seasonality = hourlySlots()
	})
	r := runGauge(t, rule, samples)
	requireOneAlertIn(t, r, burst, burst.Add(time.Hour))
	// Day 2 outside the burst: the baseline follows the daily shape.
	for ts := t0.Add(25 * time.Hour); ts.Before(burst); ts = ts.Add(time.Hour) {
		assert.InDelta(t, dailySine(ts), r.baseline[ts.UnixNano()], 15, "baseline at %s", ts)
	}

	// No false alert during the first period, while its shape is learnt.
	for _, e := range r.events {
		assert.False(t, e.ts.Before(t0.Add(24*time.Hour)), "transition in the first period: %v", e)
	}
}

// TestSeasonalFirstPeriodVerdicts: during the first period a sample is
// judged once its slot has slotWarmSamples samples. A burst at hour 12 of
// the first day fires on a 1-minute series (60 samples per hourly slot); on
// a 15-minute series (4 per slot) the first day has no verdict at all.
func TestSeasonalFirstPeriodVerdicts(t *testing.T) {
	t.Parallel()
	burst := t0.Add(12*time.Hour + 20*time.Minute)
	gen := func(step time.Duration) []sample {
		return dailyBurst(int(36*time.Hour/step), step, rand.New(rand.NewPCG(13, 14)), burst, 30*time.Minute)
	}
	rule := testRule(func(r *RuleConfig) {
		r.HalfLife = 0
		r.For = 5 * time.Minute
		r.Seasonality = hourlySlots()
	})
	r := runGauge(t, rule, gen(time.Minute))
	requireOneAlertIn(t, r, burst, burst.Add(30*time.Minute)) // in the first day

	coarse := runGauge(t, rule, gen(15*time.Minute))
	for _, e := range coarse.events {
		assert.False(t, e.ts.Before(t0.Add(24*time.Hour)), "15 m: transition in the first period: %v", e)
	}
}

// TestEvictionClock: eviction waits for max(idle_timeout, 3 intervals of
// the series) on the wall clock, so a live hourly series survives the 1h
// default between its own samples, and a 10s series that stopped goes after
// idle_timeout.
func TestEvictionClock(t *testing.T) {
	t.Parallel()
	e := newTestEngine(t, testRule(nil))
	clock := useTestClock(e)
	hourly := regular(5, time.Hour, func(int, time.Time) float64 { return 1 })
	fast := regular(5, 10*time.Second, func(int, time.Time) float64 { return 1 })
	e.process(gaugeBatch(hourly, map[string]any{"host": "hourly"}))
	e.process(gaugeBatch(fast, map[string]any{"host": "fast"}))
	require.Equal(t, 2, e.index.len())

	clock.advance(61 * time.Minute) // both silent for just over idle_timeout (1h)
	assert.Equal(t, 1, e.evictIdle(), "only the 10s series is idle")
	var left series
	e.index.each(func(_ uint64, idx int32) { left = e.slab[idx] })
	assert.Equal(t, int64(time.Hour), left.interval)

	// The hourly series' next sample arrives: not evicted in between.
	e.process(gaugeBatch([]sample{{hourly[4].ts.Add(time.Hour), 1}}, map[string]any{"host": "hourly"}))
	clock.advance(2*time.Hour + 59*time.Minute)
	assert.Equal(t, 0, e.evictIdle(), "silent for less than 3 of its intervals")
	clock.advance(2 * time.Minute)
	assert.Equal(t, 1, e.evictIdle(), "silent for more than 3 of its intervals")
}

// TestSeriesKeyPinned pins the series key hash: the keys are persisted, so a
// change of seriesKey, mapHash, pairHash or mix64 must come with a new state
// format version (persist.go). If this test fails, bump stateMagic.
func TestSeriesKeyPinned(t *testing.T) {
	t.Parallel()
	assert.Equal(t, uint64(0x6719a69fe8cf1676), keyCheckValue(), "keyCheckValue")

	rule := testRule(func(r *RuleConfig) { r.Name = "errors"; r.Attributes = []string{"service.name", "http.route"} })
	cr := &compiledRule{cfg: &rule, seed: ruleSeed(rule.Name)}
	attrs := pcommon.NewMap()
	attrs.PutStr("http.route", "/api")
	attrs.PutInt("code", 500)
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "shop")
	got := seriesKey(cr, xxhash.Sum64String("http.server.errors"), mapHash(res.Attributes()), attrs, res)
	assert.Equal(t, uint64(0xc317fa85cf41bcf7), got, "selected attributes")
	cr.cfg.Attributes = nil
	got = seriesKey(cr, xxhash.Sum64String("http.server.errors"), mapHash(res.Attributes()), attrs, res)
	assert.Equal(t, uint64(0x3f9faa9fde38a3f2), got, "all attributes")
}

// TestOldStateFormatDiscarded: an EWB1 file (or a file whose key check
// differs) is not restored, with an error naming the reason.
func TestOldStateFormatDiscarded(t *testing.T) {
	t.Parallel()
	rule := testRule(nil)
	e := newTestEngine(t, rule)
	e.process(gaugeBatch(regular(50, time.Second, func(int, time.Time) float64 { return 1 }), map[string]any{"host": "a"}))
	e.mu.Lock()
	good := e.encodeState()
	e.mu.Unlock()

	old := append([]byte("EWB1"), good[4:]...)
	badKey := append([]byte{}, good...)
	badKey[4] ^= 1
	for name, data := range map[string][]byte{"EWB1": old, "key check": badKey} {
		fresh := newTestEngine(t, rule)
		fresh.mu.Lock()
		n, err := fresh.decodeState(data)
		fresh.mu.Unlock()
		require.ErrorIs(t, err, errStateVersion, name)
		assert.Zero(t, n, name)
		assert.Zero(t, fresh.index.len(), name)
	}
	assert.ErrorContains(t, func() error {
		fresh := newTestEngine(t, rule)
		_, err := fresh.decodeState(old)
		return err
	}(), `"EWB1", this version reads "EWB5"`)

	fresh := newTestEngine(t, rule)
	n, err := fresh.decodeState(good)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

// TestImmediateScore: a lone sample above immediate_score fires at once and
// resolves on the next normal sample; one above k but below it only goes
// pending and is cancelled. The lone spike is clipped, not absorbed.
func TestImmediateScore(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	p := newParams(&rule)
	values := noisy(400, 13, 100, 1)
	values[300] = 108 // above k, below immediate_score
	values[350] = 150 // far above immediate_score
	_, res := observeAll(&p, nil, time.Minute, values)
	var trans []transition
	for _, r := range res {
		if r.trans != transNone {
			trans = append(trans, r.trans)
		}
	}
	assert.Equal(t, []transition{transPending, transCancelled, transFiring, transResolved}, trans)
	assert.InDelta(t, res[350].baseline, res[351].baseline, 0.05, "the spike that fired was clipped")
	assert.Less(t, res[351].sigma, 1.5*res[350].sigma)
}

func TestScoreSuppression(t *testing.T) {
	t.Parallel()
	rule := nonSeasonalRule()
	rule.ImmediateScore = 0
	rule.For = 0
	rule.ScoreSuppression = 20
	p := newParams(&rule)
	values := noisy(400, 13, 100, 1)
	values[300] = 150 // opens the suppression
	values[310] = 150 // inside it: reported damped, still fires
	values[350] = 150 // after it: reported in full
	_, res := observeAll(&p, nil, time.Minute, values)
	for _, i := range []int{300, 350} {
		assert.Greater(t, res[i].score, rule.K, "sample %d", i)
		assert.Equal(t, res[i].score, res[i].reported, "sample %d is reported in full", i)
	}
	assert.Greater(t, res[310].score, rule.K)
	assert.InDelta(t, res[310].score*suppressedScoreFactor, res[310].reported, 1e-12, "inside the suppression")
	assert.Equal(t, transFiring, res[310].trans, "the alert sees the full score")
	for i := 301; i <= 320; i++ {
		assert.InDelta(t, res[i].score*suppressedScoreFactor, res[i].reported, 1e-12, "sample %d", i)
	}
	assert.Equal(t, res[321].score, res[321].reported, "the suppression lasts score_suppression samples")

	rule.ScoreSuppression = 0
	p = newParams(&rule)
	_, res = observeAll(&p, nil, time.Minute, values)
	for i, r := range res {
		require.Equal(t, r.score, r.reported, "0 turns it off (sample %d)", i)
	}
}

// TestAdoptionTwoSidedOnly: a +30σ burst of 30 samples. A two-sided rule
// adopts it (the level reaches the burst, and the return could alert); a
// one-sided rule cannot report the return, so its level only follows the
// unclipped EWMA while firing and comes back near the old level afterwards.
func TestAdoptionTwoSidedOnly(t *testing.T) {
	t.Parallel()
	run := func(dir Direction) (res []result, s *series) {
		rule := nonSeasonalRule()
		rule.HalfLife = time.Minute
		rule.K, rule.ClearScore, rule.Direction, rule.For, rule.ImmediateScore = 4, 2, dir, 3*time.Second, 0
		rule.Warmup.Samples = 20
		p := newParams(&rule)
		rng := rand.New(rand.NewPCG(7, 11))
		s = &series{}
		for i := 0; i < 330; i++ {
			v := 100 + rng.NormFloat64()
			if i >= 240 && i < 270 {
				v += 30
			}
			res = append(res, s.observe(&p, nil, t0.Add(time.Duration(i)*time.Second).UnixNano(), v))
		}
		return res, s
	}
	up, _ := run(DirectionUp)
	assert.Equal(t, transFiring, up[243].trans)
	for i := 244; i <= 247; i++ {
		assert.NotEqual(t, transResolved, up[i].trans, "one-sided: still firing at %d", i)
	}
	assert.InDelta(t, 105, up[329].baseline, 10, "one-sided: back near the old level")

	both, _ := run(DirectionBoth)
	assert.InDelta(t, 130, both[269].baseline, 3, "two-sided: the burst was adopted")
}

// TestStateFormatV4Read: an EWB4 file (the format before the whole-count
// flag, its only difference from EWB5) is still restored; its series'
// flag starts unknown and their next increment sets it again.
func TestStateFormatV4Read(t *testing.T) {
	t.Parallel()
	rule := testRule(func(r *RuleConfig) { r.Value = ValueCounterRate })
	e := newTestEngine(t, rule)
	samples := regular(50, time.Second, func(i int, _ time.Time) float64 { return float64(3 * i) })
	r := &run{}
	feed(e, r, samples[:40], 40, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	e.mu.Lock()
	v5 := e.encodeState()
	var want series
	e.index.each(func(_ uint64, idx int32) { want = e.slab[idx] })
	e.mu.Unlock()
	require.Equal(t, uint8(quantWhole), want.quant)

	// EWB4: the same bytes without the quant byte of the one series record.
	// Offset: magic, keyCheck, nrules, the rule (name, fingerprint),
	// nseries, then u16 rule, u64 key, 6 i64, 8 f64, u32, 4 u8, u16.
	at := 4 + 8 + 4 + 4 + len(rule.Name) + 8 + 4 + 2 + 8 + 6*8 + 8*8 + 4 + 4 + 2
	require.Equal(t, want.quant, v5[at])
	v4 := append([]byte(stateMagicV4), v5[4:at]...)
	v4 = append(v4, v5[at+1:]...)

	fresh := newTestEngine(t, rule)
	fresh.mu.Lock()
	n, err := fresh.decodeState(v4)
	var got series
	fresh.index.each(func(_ uint64, idx int32) { got = fresh.slab[idx] })
	fresh.mu.Unlock()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	assert.Equal(t, uint8(quantUnknown), got.quant, "not in EWB4")
	got.quant, got.lastSeen, want.lastSeen, got.soff, want.soff = want.quant, 0, 0, 0, 0
	assert.Equal(t, want, got, "everything else restored")

	feed(fresh, r, samples[40:], 10, func(s []sample) pmetric.Metrics { return counterBatch(s, t0) })
	fresh.index.each(func(_ uint64, idx int32) { assert.Equal(t, uint8(quantWhole), fresh.slab[idx].quant) })
}

// TestSlotIgnoresAdoptedSpike: a 5× spike on an hourly series with daily
// seasonality fires and the level adopts and returns; the seasonal slots
// learn only the clipped residual, so the spike's hours do not carry it
// into the following days (before, three slots took ~+20σ and σ widened
// for weeks, hiding a later +60 % shift).
func TestSlotIgnoresAdoptedSpike(t *testing.T) {
	t.Parallel()
	rule := NewDefaultRuleConfig()
	p := newParams(&rule)
	seasonal := make([]slot, p.slots)
	values := noisy(24*20, 5, 75, 3.75)
	for i := 24*12 + 5; i < 24*12+8; i++ {
		values[i] *= 5
	}
	for i := 24 * 17; i < len(values); i++ {
		values[i] *= 1.6
	}
	s := &series{}
	var res []result
	for i, x := range values {
		if i == 24*17 {
			for j := range seasonal {
				assert.Less(t, math.Abs(seasonal[j].offset), 2*3.75, "slot %d before the shift", j)
			}
		}
		res = append(res, s.observe(&p, seasonal, t0.Add(time.Duration(i)*time.Hour).UnixNano(), x))
	}
	assert.Less(t, res[24*17].sigma, 3*3.75, "σ near the noise's again")
	assert.Greater(t, res[24*17].score, rule.K, "the shift after the spike is seen")
}
