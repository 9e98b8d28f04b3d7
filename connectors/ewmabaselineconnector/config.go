// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"

	"github.com/vigil-otel/vigil/internal/configenum"
	"github.com/vigil-otel/vigil/internal/strictconfig"
)

// ValueKind selects which value of a data point a rule tracks.
type ValueKind string

const (
	// ValueGauge tracks the point value as is (Gauge, or a Sum read as a level).
	ValueGauge ValueKind = "gauge"
	// ValueCounterRate tracks the per-second rate of a Sum (cumulative or delta).
	ValueCounterRate ValueKind = "counter_rate"
	// ValueHistogramMean tracks the mean of the observations made in each
	// interval (Δsum/Δcount) of a Histogram or ExponentialHistogram.
	ValueHistogramMean ValueKind = "histogram_mean"
	// ValueHistogramCountRate tracks observations per second of a histogram.
	ValueHistogramCountRate ValueKind = "histogram_count_rate"
)

// UnmarshalText rejects unknown value kinds.
func (v *ValueKind) UnmarshalText(text []byte) error {
	return configenum.Set(v, text, "value", "must be one of gauge, counter_rate, histogram_mean, histogram_count_rate", ValueGauge, ValueCounterRate, ValueHistogramMean, ValueHistogramCountRate)
}

// outputSuffix is appended to the metric name before the output suffixes, so
// two rules that track different values of one histogram get distinct names.
func (v ValueKind) outputSuffix() string {
	switch v {
	case ValueCounterRate:
		return "_rate"
	case ValueHistogramMean:
		return "_mean"
	case ValueHistogramCountRate:
		return "_count_rate"
	}
	return ""
}

// Direction selects which deviations count as anomalies.
type Direction string

const (
	DirectionUp   Direction = "up"
	DirectionDown Direction = "down"
	DirectionBoth Direction = "both"
)

// UnmarshalText rejects unknown directions.
func (d *Direction) UnmarshalText(text []byte) error {
	return configenum.Set(d, text, "direction", "must be one of up, down, both", DirectionUp, DirectionDown, DirectionBoth)
}

// Config is the configuration of the ewma_baseline connector.
type Config struct {
	// Rules choose the series to baseline. At least one is required.
	Rules []RuleConfig `mapstructure:"rules"`
	// MaxSeries bounds the number of tracked series over all rules. New series
	// beyond it are skipped (reason max_series) until idle ones are evicted.
	// Default 100000.
	MaxSeries int `mapstructure:"max_series"`
	// IdleTimeout evicts a series that received no data point for this long
	// (wall clock), or for 3 of its own sampling intervals if that is longer,
	// so a live hourly series is never evicted between its samples. Default 1h.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// Storage is the ID of a storage extension (e.g. file_storage) that keeps
	// the baselines across restarts. Optional.
	Storage *component.ID `mapstructure:"storage"`
	// PersistInterval is how often the state is saved to Storage in addition
	// to the save at shutdown. Default 5m.
	PersistInterval time.Duration `mapstructure:"persist_interval"`
	// Alertmanager, when set, posts alerts to Alertmanager's v2 API.
	Alertmanager configoptional.Optional[AlertmanagerConfig] `mapstructure:"alertmanager"`
}

var _ component.Config = (*Config)(nil)

// RuleConfig selects series and says how to baseline them.
type RuleConfig struct {
	// Name identifies the rule in alerts (alertname) and in persisted state.
	Name string `mapstructure:"name"`
	// Metric is an exact metric name. Exactly one of Metric and MetricRegex.
	Metric string `mapstructure:"metric"`
	// MetricRegex is a regular expression matched against the whole name.
	MetricRegex string `mapstructure:"metric_regex"`
	// Attributes identify a series (looked up in the data point attributes,
	// then the resource attributes). Empty: all resource and point attributes.
	Attributes []string `mapstructure:"attributes"`
	// Value is gauge (default), counter_rate, histogram_mean or histogram_count_rate.
	Value ValueKind `mapstructure:"value"`
	// HalfLife, when set, is the time after which a sample's weight halves.
	// Default 0: the memory is HalfLifeSamples samples of the series' own
	// sampling interval, estimated from its data timestamps.
	HalfLife time.Duration `mapstructure:"half_life"`
	// HalfLifeSamples is the half-life in samples when HalfLife is 0. Default 100.
	HalfLifeSamples int `mapstructure:"half_life_samples"`
	// K is the band half-width in σ and the alert threshold. Default 4.
	K float64 `mapstructure:"k"`
	// ClearScore: an alert resolves (and a pending one is dropped) once the
	// score is at or below it. Must be ≤ k. Default 3.
	ClearScore float64 `mapstructure:"clear_score"`
	// Direction is up, down or both (default).
	Direction Direction `mapstructure:"direction"`
	// Warmup must pass before any verdict.
	Warmup WarmupConfig `mapstructure:"warmup"`
	// For is how long the score must stay above clear_score, after a sample
	// above k, before the alert fires (data time). Default 1m; 0 fires on the
	// first sample above k.
	For time.Duration `mapstructure:"for"`
	// ImmediateScore: a sample scoring above it fires at once, without
	// waiting for `for` (a short spike on a coarse series is a single
	// sample). Must be ≥ k; 0 turns it off. Default 12.
	ImmediateScore float64 `mapstructure:"immediate_score"`
	// ScoreSuppression is how many samples after a sample scored above k the
	// `_score` output reports the score × suppressedScoreFactor, so one
	// excursion is one peak of `_score`, not a run of them. The alert state
	// machine, the log records and Alertmanager always see the full score.
	// 0 turns it off. Default 50.
	ScoreSuppression int `mapstructure:"score_suppression"`
	// SigmaFloor bounds σ from below.
	SigmaFloor SigmaFloorConfig `mapstructure:"sigma_floor"`
	// Seasonality keeps an offset per slot of the period (default: daily, 24
	// slots, 16 bytes per slot and series). `enabled: false` turns it off.
	Seasonality configoptional.Optional[SeasonalityConfig] `mapstructure:"seasonality"`
	// Severity is the `severity` label of Alertmanager alerts. Default warning.
	Severity string `mapstructure:"severity"`
	// Outputs lists the derived series to emit, from baseline, upper, lower,
	// score and alert. Default: all five. Each one is a new series per
	// tracked series in the backend, and most of the connector's CPU time
	// (see the README's figures), so trim it when only alerts matter.
	Outputs []string `mapstructure:"outputs"`
}

// WarmupConfig holds the warm-up before any verdict; both must be reached.
type WarmupConfig struct {
	// Samples is the number of samples seen. Default 30.
	Samples int `mapstructure:"samples"`
	// Duration is the time since the first sample (data time). Default 0.
	// With seasonality, during the first period a sample is also judged
	// only once its slot has 10 samples.
	Duration time.Duration `mapstructure:"duration"`
}

// SigmaFloorConfig: σ used for bands and scores is
// max(σ_ewma (widened for heavy tails), the series' resolution, absolute,
// relative·|baseline|), where the resolution is the smallest non-zero step
// between two consecutive values the series has shown (see the README).
type SigmaFloorConfig struct {
	// Relative to |baseline|. Default 0.01.
	Relative float64 `mapstructure:"relative"`
	// Absolute, in the unit of the tracked value. Must be > 0. Default 1e-9.
	Absolute float64 `mapstructure:"absolute"`
}

// SeasonalityConfig keeps one baseline per slot of a period.
type SeasonalityConfig struct {
	// Period is 24h (daily) or 168h (weekly); any whole number of seconds works.
	Period time.Duration `mapstructure:"period"`
	// Slots divides the period. Default 24.
	Slots int `mapstructure:"slots"`
	// HalfLife is in data time (the points' timestamps, not the wall
	// clock): a slot's offset loses half its weight after this long, whether
	// the series was sampled often or rarely in between. Default 3 periods.
	HalfLife time.Duration `mapstructure:"half_life"`
}

// AlertmanagerConfig configures the Alertmanager v2 client.
type AlertmanagerConfig struct {
	// ClientConfig: endpoint is Alertmanager's base URL, e.g.
	// http://127.0.0.1:9093; alerts go to <endpoint>/api/v2/alerts.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// ResendInterval re-sends firing alerts so Alertmanager keeps them
	// active; endsAt of a firing alert is now + 4·resend_interval. Default 1m.
	ResendInterval time.Duration `mapstructure:"resend_interval"`
	// QueueSize bounds alerts waiting to be sent; more are dropped and
	// counted. Default 1000.
	QueueSize int `mapstructure:"queue_size"`
}

var _ confmap.Unmarshaler = (*AlertmanagerConfig)(nil)

// Unmarshal rejects unknown keys, then decodes: confighttp.ClientConfig is
// squashed into AlertmanagerConfig and implements confmap.Unmarshaler, which
// switches the decoder's own unknown-key check off (see internal/strictconfig).
func (a *AlertmanagerConfig) Unmarshal(conf *confmap.Conf) error {
	return strictconfig.Unmarshal(conf, a)
}

const (
	defaultMaxSeries        = 100_000
	defaultIdleTimeout      = time.Hour
	defaultPersistInterval  = 5 * time.Minute
	defaultHalfLifeSamples  = 100
	defaultK                = 4.0
	defaultClearScore       = 3.0
	defaultWarmupSamples    = 30
	defaultFor              = time.Minute
	defaultImmediateScore   = 12.0
	defaultScoreSuppression = 50
	// maxScoreSuppression keeps the suppression counter in a uint16.
	maxScoreSuppression  = math.MaxUint16
	defaultFloorRelative = 0.01
	defaultFloorAbsolute = 1e-9
	defaultSeasonSlots   = 24
	// defaultSeasonHalfLifePeriods is seasonality.half_life's default, in periods.
	defaultSeasonHalfLifePeriods = 3
	defaultResendInterval        = time.Minute
	defaultQueueSize             = 1000
	// maxSeasonSlots bounds per-series memory with seasonality (32 B per slot).
	maxSeasonSlots = 10_080
	// maxHalfLifeSamples bounds half_life_samples (a memory of a million
	// samples is no longer a baseline).
	maxHalfLifeSamples = 1_000_000
	// maxRules keeps the rule index in a uint16.
	maxRules = 1024
)

func createDefaultConfig() component.Config {
	return &Config{
		MaxSeries:       defaultMaxSeries,
		IdleTimeout:     defaultIdleTimeout,
		PersistInterval: defaultPersistInterval,
		Alertmanager: configoptional.Default(AlertmanagerConfig{
			ClientConfig:   confighttp.NewDefaultClientConfig(),
			ResendInterval: defaultResendInterval,
			QueueSize:      defaultQueueSize,
		}),
	}
}

// NewDefaultRuleConfig returns a rule with every default filled in.
func NewDefaultRuleConfig() RuleConfig {
	return RuleConfig{
		Value:            ValueGauge,
		HalfLifeSamples:  defaultHalfLifeSamples,
		K:                defaultK,
		ClearScore:       defaultClearScore,
		Direction:        DirectionBoth,
		Warmup:           WarmupConfig{Samples: defaultWarmupSamples},
		For:              defaultFor,
		ImmediateScore:   defaultImmediateScore,
		ScoreSuppression: defaultScoreSuppression,
		SigmaFloor:       SigmaFloorConfig{Relative: defaultFloorRelative, Absolute: defaultFloorAbsolute},
		Seasonality: configoptional.Some(SeasonalityConfig{
			Period: 24 * time.Hour,
			Slots:  defaultSeasonSlots,
		}),
		Severity: "warning",
		Outputs:  []string{"baseline", "upper", "lower", "score", "alert"},
	}
}

// Unmarshal starts each rule from NewDefaultRuleConfig, so list entries get
// the same defaults as a top-level config would.
func (r *RuleConfig) Unmarshal(conf *confmap.Conf) error {
	*r = NewDefaultRuleConfig()
	type plain RuleConfig // no Unmarshal method: avoids recursion
	return conf.Unmarshal((*plain)(r))
}

// Validate checks the whole configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Rules) == 0 {
		errs = append(errs, errors.New("`rules` must contain at least one rule"))
	}
	if len(cfg.Rules) > maxRules {
		errs = append(errs, fmt.Errorf("`rules` has %d entries, more than the maximum %d", len(cfg.Rules), maxRules))
	}
	if cfg.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("`max_series` (%d) must be greater than 0", cfg.MaxSeries))
	}
	if cfg.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("`idle_timeout` (%s) must be greater than 0", cfg.IdleTimeout))
	}
	if cfg.PersistInterval <= 0 {
		errs = append(errs, fmt.Errorf("`persist_interval` (%s) must be greater than 0", cfg.PersistInterval))
	}
	names := map[string]bool{}
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("rules[%d]: duplicate `name` %q: rule names must be unique", i, r.Name))
		}
		names[r.Name] = true
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] (%q): %w", i, r.Name, err))
		}
	}
	if am := cfg.Alertmanager.Get(); am != nil && cfg.Alertmanager.HasValue() {
		if err := am.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("alertmanager: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one rule.
func (r *RuleConfig) Validate() error {
	var errs []error
	if r.Name == "" {
		errs = append(errs, errors.New("`name` must not be empty"))
	}
	switch {
	case r.Metric == "" && r.MetricRegex == "":
		errs = append(errs, errors.New("one of `metric` or `metric_regex` must be set"))
	case r.Metric != "" && r.MetricRegex != "":
		errs = append(errs, fmt.Errorf("only one of `metric` (%q) and `metric_regex` (%q) may be set", r.Metric, r.MetricRegex))
	case r.MetricRegex != "":
		if _, err := regexp.Compile(r.MetricRegex); err != nil {
			errs = append(errs, fmt.Errorf("`metric_regex` (%q) is not a valid regular expression: %w", r.MetricRegex, err))
		}
	}
	if r.HalfLife < 0 {
		errs = append(errs, fmt.Errorf("`half_life` (%s) must not be negative", r.HalfLife))
	}
	if r.HalfLife == 0 && (r.HalfLifeSamples < 1 || r.HalfLifeSamples > maxHalfLifeSamples) {
		errs = append(errs, fmt.Errorf("`half_life_samples` (%d) must be between 1 and %d when `half_life` is 0", r.HalfLifeSamples, maxHalfLifeSamples))
	}
	if !(r.K > 0) || math.IsInf(r.K, 0) {
		errs = append(errs, fmt.Errorf("`k` (%v) must be a finite number greater than 0", r.K))
	}
	if !(r.ClearScore >= 0) || r.ClearScore > r.K {
		errs = append(errs, fmt.Errorf("`clear_score` (%v) must be between 0 and `k` (%v)", r.ClearScore, r.K))
	}
	if r.ImmediateScore != 0 && (!(r.ImmediateScore >= r.K) || math.IsInf(r.ImmediateScore, 0)) {
		errs = append(errs, fmt.Errorf("`immediate_score` (%v) must be 0 (off) or a finite number ≥ `k` (%v)", r.ImmediateScore, r.K))
	}
	if r.ScoreSuppression < 0 || r.ScoreSuppression > maxScoreSuppression {
		errs = append(errs, fmt.Errorf("`score_suppression` (%d) must be between 0 (off) and %d samples", r.ScoreSuppression, maxScoreSuppression))
	}
	if r.Warmup.Samples < 1 {
		errs = append(errs, fmt.Errorf("`warmup.samples` (%d) must be at least 1", r.Warmup.Samples))
	}
	if r.Warmup.Duration < 0 {
		errs = append(errs, fmt.Errorf("`warmup.duration` (%s) must not be negative", r.Warmup.Duration))
	}
	if r.For < 0 {
		errs = append(errs, fmt.Errorf("`for` (%s) must not be negative", r.For))
	}
	seen := map[string]bool{}
	for _, o := range r.Outputs {
		if outputIndex(o) < 0 {
			errs = append(errs, fmt.Errorf("`outputs` has unknown entry %q: must be one of baseline, upper, lower, score, alert", o))
		} else if seen[o] {
			errs = append(errs, fmt.Errorf("duplicate entry in `outputs`: %q", o))
		}
		seen[o] = true
	}
	if !(r.SigmaFloor.Absolute > 0) || math.IsInf(r.SigmaFloor.Absolute, 0) {
		errs = append(errs, fmt.Errorf("`sigma_floor.absolute` (%v) must be a finite number greater than 0, so a flat series never divides by zero", r.SigmaFloor.Absolute))
	}
	if !(r.SigmaFloor.Relative >= 0) || math.IsInf(r.SigmaFloor.Relative, 0) {
		errs = append(errs, fmt.Errorf("`sigma_floor.relative` (%v) must be a finite number ≥ 0", r.SigmaFloor.Relative))
	}
	if r.Seasonality.HasValue() {
		s := r.Seasonality.Get()
		if s.Period < time.Second || s.Period%time.Second != 0 {
			errs = append(errs, fmt.Errorf("`seasonality.period` (%s) must be a whole number of seconds, at least 1s", s.Period))
		}
		if s.Slots < 1 || s.Slots > maxSeasonSlots {
			errs = append(errs, fmt.Errorf("`seasonality.slots` (%d) must be between 1 and %d", s.Slots, maxSeasonSlots))
		} else if s.Period > 0 && s.Period%time.Duration(s.Slots) != 0 {
			errs = append(errs, fmt.Errorf("`seasonality.slots` (%d) must divide `seasonality.period` (%s) evenly", s.Slots, s.Period))
		}
		if s.HalfLife < 0 {
			errs = append(errs, fmt.Errorf("`seasonality.half_life` (%s) must not be negative", s.HalfLife))
		}
	}
	return errors.Join(errs...)
}

// outputIndex maps an `outputs` entry to its output index, -1 if unknown.
func outputIndex(name string) int {
	for i, n := range outputNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Validate checks the Alertmanager client settings.
func (a *AlertmanagerConfig) Validate() error {
	var errs []error
	if a.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("`endpoint` must be set (Alertmanager base URL, e.g. http://127.0.0.1:9093)"))
	}
	if a.ResendInterval <= 0 {
		errs = append(errs, fmt.Errorf("`resend_interval` (%s) must be greater than 0", a.ResendInterval))
	}
	if a.QueueSize <= 0 {
		errs = append(errs, fmt.Errorf("`queue_size` (%d) must be greater than 0", a.QueueSize))
	}
	return errors.Join(errs...)
}
