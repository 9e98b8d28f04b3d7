// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package corpus

import (
	"math"
	"time"
)

// families are the scenario families, in report order. Magnitudes are ones
// an on-call engineer wants to hear about (a latency spike of several times
// the usual, a level moving by half); the clean families are what they must
// not be paged for.
var families = []family{
	{name: "spike", specs: fastSpecs, gen: genSpike},
	{name: "shift_up", specs: fastSpecs, gen: func(g *gen, _ int) { genShift(g, +0.5) }},
	{name: "shift_down", specs: fastSpecs, gen: func(g *gen, _ int) { genShift(g, -0.35) }},
	{name: "leak", specs: fastSpecs, gen: genLeak},
	{name: "drift", specs: fastSpecs, gen: genDrift},
	{name: "variance", specs: fastSpecs, gen: genVariance},
	{name: "daily", specs: dailySpecs, gen: func(g *gen, _ int) { genDaily(g, true) }},
	{name: "weekly", specs: weeklySpecs, gen: func(g *gen, _ int) { genWeekly(g, true) }},
	{name: "error_burst", specs: fastSpecs, gen: func(g *gen, i int) { genErrors(g, i, true) }},
	{name: "irregular", specs: fastSpecs, gen: func(g *gen, _ int) { genIrregular(g, true) }},
	{name: "daily_clean", specs: dailySpecs, gen: func(g *gen, _ int) { genDaily(g, false) }},
	{name: "weekly_clean", specs: weeklySpecs, gen: func(g *gen, _ int) { genWeekly(g, false) }},
	{name: "error_clean", specs: fastSpecs, gen: func(g *gen, i int) { genErrors(g, i, false) }},
	{name: "irregular_clean", specs: fastSpecs, gen: func(g *gen, _ int) { genIrregular(g, false) }},
	{name: "noise", specs: append(append([]spec{}, fastSpecs...), fastSpecs...), gen: genNoise},
}

// genSpike: request latency (seconds, log-normal around 120 ms) with three
// spikes of 4-8× lasting 30 s to 5 min (at least one sample).
func genSpike(g *gen, _ int) {
	base := 0.08 + 0.08*g.rng.Float64()
	type spike struct {
		from, to int
		factor   float64
	}
	var spikes []spike
	for _, f := range []float64{0.45, 0.65, 0.85} {
		d := time.Duration(30+g.rng.IntN(270)) * time.Second
		i := g.frac(f)
		spikes = append(spikes, spike{i, i + g.samples(d), 4 + 4*g.rng.Float64()})
		g.label(g.at(i), d)
	}
	g.gauge(func(i int, _ int64) float64 {
		v := base * math.Exp(0.1*g.rng.NormFloat64())
		for _, s := range spikes {
			if i >= s.from && i < s.to {
				v *= s.factor
			}
		}
		return v
	})
}

// genShift: a level (CPU %, or throughput) with 5% noise that steps by rel
// (+50% or −35%) twice, at ~40% and ~75% of the series, and stays there.
func genShift(g *gen, rel float64) {
	base := 30 + 40*g.rng.Float64()
	a, b := g.frac(0.4), g.frac(0.75)
	g.label(g.at(a), 0)
	g.label(g.at(b), 0)
	g.gauge(func(i int, _ int64) float64 {
		level := base
		if i >= a {
			level *= 1 + rel
		}
		if i >= b {
			level *= 1 + rel
		}
		return level * (1 + 0.05*g.rng.NormFloat64())
	})
}

// genLeak: memory in use (bytes) with 2% noise that starts growing linearly
// at ~50% of the series, by 60% of its level over max(6 h, 30 samples), and
// keeps growing to the end. The window is that first stretch.
func genLeak(g *gen, _ int) {
	base := 2e8 * (1 + g.rng.Float64())
	a := g.frac(0.5)
	d := max(6*time.Hour, 30*g.interval)
	slope := 0.6 * base / float64(d)
	g.label(g.at(a), d)
	g.gauge(func(i int, t int64) float64 {
		level := base
		if i >= a {
			level += slope * float64(t-g.at(a))
		}
		return level * (1 + 0.02*g.rng.NormFloat64())
	})
}

// genDrift: a level with 4% noise that drifts up by 40% over max(2 h, 12
// samples) at ~40% and back down over as long at ~75%.
func genDrift(g *gen, _ int) {
	base := 100 + 100*g.rng.Float64()
	d := max(2*time.Hour, 12*g.interval)
	a, b := g.frac(0.4), g.frac(0.75)
	g.label(g.at(a), d)
	g.label(g.at(b), d)
	ramp := func(t, from int64) float64 { return min(1, max(0, float64(t-from)/float64(d))) }
	g.gauge(func(_ int, t int64) float64 {
		level := base * (1 + 0.4*ramp(t, g.at(a)) - 0.4*ramp(t, g.at(b)))
		return level * (1 + 0.04*g.rng.NormFloat64())
	})
}

// genVariance: latency whose noise grows 5× (same mean) for max(1 h, 20
// samples), twice.
func genVariance(g *gen, _ int) {
	base := 0.2 + 0.1*g.rng.Float64()
	d := max(time.Hour, 20*g.interval)
	var from []int
	for _, f := range []float64{0.45, 0.75} {
		i := g.frac(f)
		from = append(from, i)
		g.label(g.at(i), d)
	}
	n := g.samples(d)
	g.gauge(func(i int, _ int64) float64 {
		sd := 0.03
		for _, a := range from {
			if i >= a && i < a+n {
				sd *= 5
			}
		}
		return base * (1 + sd*g.rng.NormFloat64())
	})
}

// genDaily: a request counter (counter_rate) with a daily cycle of ±60%
// around 50-150 req/s and 3% extra noise; with anomalies, an outage (rate
// to 10%) for max(30 m, 3 samples) at ~50% and a surge (×3) as long at ~80%.
// Counter resets about every 1.5 days.
func genDaily(g *gen, anomalies bool) {
	base := 50 + 100*g.rng.Float64()
	var effects []effect
	if anomalies {
		d := max(30*time.Minute, 3*g.interval)
		for _, e := range []struct{ f, factor float64 }{{0.5, 0.1}, {0.8, 3}} {
			effects = append(effects, g.scale(e.f, d, e.factor))
		}
	}
	g.counter(func(i int, t int64) float64 {
		return scaled(effects, i, base*(1+0.6*daily(t))*(1+0.03*g.rng.NormFloat64()))
	}, g.resetsAvoiding())
}

// genWeekly: active sessions (gauge): a daily cycle of ±50% on weekdays, 40%
// lower on weekends, 4% noise; with anomalies, a drop to 50% for max(2 h, 2
// samples) at ~60% and a doubling for max(1 h, 2 samples) at ~85%.
func genWeekly(g *gen, anomalies bool) {
	base := 1000 + 2000*g.rng.Float64()
	var effects []effect
	if anomalies {
		for _, e := range []struct {
			f, factor float64
			d         time.Duration
		}{{0.6, 0.5, max(2*time.Hour, 2*g.interval)}, {0.85, 2, max(time.Hour, 2*g.interval)}} {
			effects = append(effects, g.scale(e.f, e.d, e.factor))
		}
	}
	g.gauge(func(i int, t int64) float64 {
		v := base * (1 + 0.5*daily(t))
		if weekend(t) {
			v *= 0.6
		}
		return scaled(effects, i, v) * (1 + 0.04*g.rng.NormFloat64())
	})
}

// genErrors: an error counter (counter_rate) that sits at zero: exactly
// zero for even series (10 s, 1 m, 15 m), a background of 0.005 errors/s
// (one every ~3 minutes) for odd ones; with anomalies, three bursts of 1
// error/s for 2-10 minutes (at least one sample). Counter resets about
// every 1.5 days.
func genErrors(g *gen, i int, anomalies bool) {
	background := 0.005
	if i%2 == 0 {
		background = 0
	}
	type burst struct {
		from, to int
		rate     float64 // mean over the samples it covers
	}
	var bursts []burst
	if anomalies {
		for _, f := range []float64{0.45, 0.7, 0.9} {
			d := time.Duration(2+g.rng.IntN(9)) * time.Minute
			at := g.frac(f)
			n := g.samples(d)
			bursts = append(bursts, burst{at, at + n, d.Seconds() / (time.Duration(n) * g.interval).Seconds()})
			g.label(g.at(at), d)
		}
	}
	g.counter(func(j int, _ int64) float64 {
		for _, b := range bursts {
			if j >= b.from && j < b.to {
				return background + b.rate
			}
		}
		return background
	}, g.resetsAvoiding())
}

// genIrregular: a level with 5% noise, sampled at irregular intervals
// (each 50-150% of the nominal one) with a gap of 3-10 samples (at least 10
// minutes) about once a day; with anomalies, a 5× spike of 3 samples at ~50%
// and a +60% level shift at ~80%. Gaps are not anomalies.
func genIrregular(g *gen, anomalies bool) {
	base := 50 + 50*g.rng.Float64()
	var spikeAt, shiftAt int64 = math.MaxInt64, math.MaxInt64
	if anomalies {
		spikeAt, shiftAt = g.at(g.frac(0.5)), g.at(g.frac(0.8))
	}
	end := g.at(g.n)
	perDay := float64(24*time.Hour) / float64(g.interval)
	t := g.at(0)
	spikeLeft := -1
	for t < end {
		level := base
		if t >= shiftAt {
			level *= 1.6
		}
		v := level * (1 + 0.05*g.rng.NormFloat64())
		if spikeLeft < 0 && t >= spikeAt {
			spikeLeft = 3
			g.label(t, 3*g.interval)
		}
		if spikeLeft > 0 {
			v *= 5
			spikeLeft--
		}
		if t >= shiftAt && (len(g.windows) == 0 || g.windows[len(g.windows)-1].Start < shiftAt) {
			g.label(t, 0)
		}
		g.points = append(g.points, pointAt(t, v))
		step := time.Duration((0.5 + g.rng.Float64()) * float64(g.interval))
		if g.rng.Float64() < 1/perDay {
			step += max(10*time.Minute, time.Duration(3+g.rng.IntN(8))*g.interval)
		}
		t += int64(max(step, time.Second))
	}
}

// genNoise: pure noise, no anomaly. Series 0-5: Gaussian CPU (40 ± 3) for
// even intervals, a Poisson request counter (20/s) for odd ones; series
// 6-11: log-normal latency (σ_log 0.25) for even, Student-t(3) heavy-tailed
// level for odd ones.
func genNoise(g *gen, i int) {
	switch {
	case i < 6 && i%2 == 0:
		g.gauge(func(int, int64) float64 { return 40 + 3*g.rng.NormFloat64() })
	case i < 6:
		g.counter(func(int, int64) float64 { return 20 }, g.resetsAvoiding())
	case i%2 == 0:
		g.gauge(func(int, int64) float64 { return 0.1 * math.Exp(0.25*g.rng.NormFloat64()) })
	default:
		g.gauge(func(int, int64) float64 { return 100 + 5*studentT3(g.rng) })
	}
}
