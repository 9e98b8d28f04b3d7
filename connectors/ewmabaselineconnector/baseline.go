// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"math"
)

// This file holds the statistics: a time-decayed EWMA of mean and variance
// per series (and per seasonal slot), the score and the alert state machine.
// It knows nothing about pdata, so it is tested on plain float series.
//
// Smoothing. With a half-life h and a gap Δt since the previous sample the
// weight of the past is 2^(−Δt/h), i.e. α = 1 − 2^(−Δt/h). Because
// (1−α₁)(1−α₂) = 2^(−(Δt₁+Δt₂)/h), a signal that is constant between sample
// times decays the same whether it was sampled once or many times: irregular
// scrapes give the same baseline as regular ones.
//
// Bias. The mean is seeded by the first sample, but the variance starts at 0
// and reaches its level only as weight accumulates: after a time T the
// weight given to the data is W = 1 − 2^(−T/h) and E[S] ≈ W·σ². σ is
// therefore computed from S/W (the correction Adam uses for its moments).
// Without it σ is underestimated by half just after a 30-sample warm-up and
// ordinary noise alerts. W comes from firstTS, so it costs no state.
//
// Variance. The incremental form of West (1979) as given by Finch (2009,
// "Incremental calculation of weighted mean and variance", §9):
//
//	d = x − μ;  μ += α·d;  S = (1−α)·(S + α·d²)
//
// One pass, no sum of squares, so no cancellation for large means; S stays ≥ 0
// because every term is ≥ 0. Prometheus' storage/remote/ewma.go keeps only a
// mean with a fixed α per tick; we need time-based α and a variance, so this
// is our own (STYLE §6 asks for seeding from the first sample: done below).

// ewma is one exponentially weighted mean/variance pair.
type ewma struct {
	mean float64
	vari float64
}

// update folds x in with weight alpha (West/Finch incremental form).
func (e *ewma) update(x, alpha float64) {
	d := x - e.mean
	incr := alpha * d
	e.mean += incr
	e.vari = (1 - alpha) * (e.vari + d*incr)
}

// slot is the seasonal state of one slot of the period (32 bytes).
type slot struct {
	ewma
	lastTau int64 // slot clock (ns of time spent inside this slot) at the last sample
	samples uint32
	// weight is 1 − Π(1−α) over the slot's updates, for the bias correction
	// (see sigmaOf). float32 fits the padding; it only scales σ.
	weight float32
}

// series is the state of one tracked series. Without seasonality it is 104
// bytes (see TestSeriesStateSize); the map entry adds ~16 bytes plus table
// overhead, measured by BenchmarkConsume. It holds no pointers (the seasonal
// slots live in the engine's slot table, at soff), so the GC never scans the
// series table: with 100k series, scanning it took ~8% of the CPU.
//
// The fields every gauge sample reads or writes come first (bytes 0-61, up
// to hasPrev); engine.probe loads their first and last word ahead of use.
type series struct {
	lastSeen  int64 // wall clock (unix ns) of the last data point, for idle eviction
	prevTS    int64 // timestamp of the last accepted raw point (order check, rates)
	lastTS    int64 // timestamp (ns) of the last accepted sample
	firstTS   int64 // timestamp of the first sample (warm-up duration)
	g         ewma  // global baseline
	samples   uint32
	soff      int32 // first seasonal slot in engine.slots (p.slots of them); unused without seasonality
	rule      uint16
	state     alertState
	dtype     uint8 // pmetric.MetricType of the first point; a change is skipped
	hasPrev   bool
	key       uint64  // hash of rule, metric name and identifying attributes
	since     int64   // pendingSince / firingSince (data time, ns)
	prev      float64 // counter: previous value; histogram: previous sum
	prev2     float64 // histogram: previous count
	prevStart int64   // start timestamp of the previous cumulative point (reset detection)
}

// params are the per-rule constants the hot path needs, precomputed.
type params struct {
	ln2OverHalfLife float64 // ln2 / half-life in ns
	k, clear        float64
	dir             Direction
	warmSamples     uint32
	warmDur         int64
	forDur          int64
	floorRel        float64
	floorAbs        float64
	// seasonality (slots == 0: off)
	slots      int
	period     int64
	slotWidth  int64
	seasonLn2  float64 // ln2 / seasonal half-life, per ns of slot clock
	seasonWarm uint32
}

func newParams(r *RuleConfig) params {
	p := params{
		ln2OverHalfLife: math.Ln2 / float64(r.HalfLife),
		k:               r.K,
		clear:           r.ClearScore,
		dir:             r.Direction,
		warmSamples:     uint32(r.Warmup.Samples),
		warmDur:         int64(r.Warmup.Duration),
		forDur:          int64(r.For),
		floorRel:        r.SigmaFloor.Relative,
		floorAbs:        r.SigmaFloor.Absolute,
	}
	if r.Seasonality.HasValue() {
		s := r.Seasonality.Get()
		p.slots = s.Slots
		p.period = int64(s.Period)
		p.slotWidth = p.period / int64(s.Slots)
		hl := s.HalfLife
		if hl == 0 {
			hl = 3 * s.Period
		}
		// The slot clock advances slotWidth per period, so one period of wall
		// time is slotWidth of slot time: scale the half-life accordingly.
		p.seasonLn2 = math.Ln2 / (float64(hl) * float64(p.slotWidth) / float64(p.period))
		p.seasonWarm = uint32(s.WarmupSamples)
		if p.seasonWarm == 0 {
			p.seasonWarm = p.warmSamples
		}
	}
	return p
}

// weightSaturated is an exponent x from which −expm1(−x) rounds to 1.0.
const weightSaturated = 40

// alpha returns 1 − 2^(−Δt/h) for a gap of dt ns, computed as −expm1(−Δt·ln2/h)
// so that tiny gaps keep their precision.
func alpha(dt int64, ln2OverH float64) float64 {
	return -math.Expm1(-float64(dt) * ln2OverH)
}

// slotOf returns the slot index and the slot clock of timestamp ts: the
// time spent inside this slot since the epoch, so each slot is a continuous
// EWMA on its own clock that only runs while the slot is current.
func (p *params) slotOf(ts int64) (int, int64) {
	cycles := floorDiv(ts, p.period)
	inPeriod := ts - cycles*p.period
	idx := inPeriod / p.slotWidth
	tau := cycles*p.slotWidth + (inPeriod - idx*p.slotWidth)
	return int(idx), tau
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// result is what one observation yields for the outputs.
type result struct {
	baseline, sigma, score float64
	emit                   bool // false for the seeding sample
	rejected               bool // the sample would overflow the state; nothing changed
	trans                  transition
}

// observe folds sample x at ts (ns, strictly after s.lastTS unless first) into
// s and returns the verdict against the baseline *before* the update, so the
// emitted band is the one the score was judged against. seasonal holds the
// series' p.slots seasonal slots (nil without seasonality).
func (s *series) observe(p *params, seasonal []slot, ts int64, x float64) result {
	if s.samples == 0 {
		s.g = ewma{mean: x}
		s.firstTS, s.lastTS, s.samples = ts, ts, 1
		if p.slots > 0 {
			i, tau := p.slotOf(ts)
			seasonal[i] = slot{ewma: ewma{mean: x}, lastTau: tau, samples: 1}
		}
		return result{}
	}

	// A finite sample can still overflow the squares (|x| near 1e154 and
	// beyond): reject it before it touches the state or the verdict.
	if d := x - s.g.mean; !finite(d * d) {
		return result{rejected: true}
	}

	base := s.g
	// W = 1 − 2^(−T/h) = −expm1(−age). expm1 keeps the precision of a
	// young series' small W; from age 0.5 on e^(−age) ≤ 0.61, so 1 − e^(−age)
	// loses nothing and math.Exp is cheaper; from age 40 (58 half-lives) W
	// is exactly 1.0 in float64 (TestWeightSaturates).
	weight := 1.0
	switch age := float64(ts-s.firstTS) * p.ln2OverHalfLife; {
	case age < 0.5:
		weight = -math.Expm1(-age)
	case age < weightSaturated:
		weight = 1 - math.Exp(-age)
	}
	var sl *slot
	var tau int64
	slotWarm := true
	if p.slots > 0 {
		var i int
		i, tau = p.slotOf(ts)
		sl = &seasonal[i]
		slotWarm = sl.samples >= p.seasonWarm
		if sl.samples > 0 && slotWarm {
			base, weight = sl.ewma, float64(sl.weight)
		}
	}

	sigma := 0.0
	if weight > 0 {
		sigma = math.Sqrt(base.vari / weight)
	}
	if f := p.floorRel * math.Abs(base.mean); f > sigma {
		sigma = f
	}
	if p.floorAbs > sigma {
		sigma = p.floorAbs
	}
	dev := (x - base.mean) / sigma
	score := math.Abs(dev)
	var dirScore float64
	switch p.dir {
	case DirectionUp:
		dirScore = max(dev, 0)
	case DirectionDown:
		dirScore = max(-dev, 0)
	default:
		dirScore = score
	}

	warm := s.samples >= p.warmSamples && ts-s.firstTS >= p.warmDur && slotWarm
	res := result{baseline: base.mean, sigma: sigma, score: score, emit: true}
	if warm || s.state != stateOK {
		res.trans = s.step(p, ts, dirScore)
	}

	// Update after the verdict.
	s.g.update(x, alpha(ts-s.lastTS, p.ln2OverHalfLife))
	if sl != nil && sl.samples > 0 && !finite((x-sl.mean)*(x-sl.mean)) {
		sl = nil // the slot cannot take it; the global baseline did
	}
	if sl != nil {
		if sl.samples == 0 {
			*sl = slot{ewma: ewma{mean: x}, lastTau: tau, samples: 1}
		} else {
			a := alpha(tau-sl.lastTau, p.seasonLn2)
			sl.update(x, a)
			sl.weight = float32(1 - (1-float64(sl.weight))*(1-a))
			sl.lastTau = tau
			sl.samples++
		}
	}
	s.lastTS = ts
	if s.samples < math.MaxUint32 {
		s.samples++
	}
	return res
}
