// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package prwexporter // import "github.com/vigil-otel/vigil/exporters/prwexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-otel/vigil/internal/configenum"
	"github.com/vigil-otel/vigil/internal/strictconfig"
)

// Protocol is the remote-write protocol version.
type Protocol string

const (
	// ProtocolV1 is Prometheus remote-write 1.0 (prometheus.WriteRequest).
	ProtocolV1 Protocol = "v1"
	// ProtocolV2 is Prometheus remote-write 2.0 (io.prometheus.write.v2.Request).
	ProtocolV2 Protocol = "v2"
)

// UnmarshalText rejects unknown protocols.
func (p *Protocol) UnmarshalText(b []byte) error {
	return configenum.Set(p, b, "protocol", "must be v1 or v2", ProtocolV1, ProtocolV2)
}

// V2Unacknowledged says what to do when a 2.0 request is answered with a 2xx
// status but without any X-Prometheus-Remote-Write-*-Written header, i.e. by
// a receiver that does not implement 2.0 and may have stored nothing.
type V2Unacknowledged string

const (
	// V2FallbackToV1 logs once and switches the exporter to 1.0; the
	// unacknowledged request is sent again as 1.0.
	V2FallbackToV1 V2Unacknowledged = "fallback_to_v1"
	// V2Fail drops the request as a permanent error (counted and logged).
	V2Fail V2Unacknowledged = "fail"
)

// UnmarshalText rejects unknown values.
func (v *V2Unacknowledged) UnmarshalText(b []byte) error {
	return configenum.Set(v, b, "v2_unacknowledged", "must be fallback_to_v1 or fail", V2FallbackToV1, V2Fail)
}

// ResourceToTelemetryConfig turns all resource attributes into labels.
type ResourceToTelemetryConfig struct {
	// Enabled copies every resource attribute onto every series. Default false.
	Enabled bool `mapstructure:"enabled"`
}

// TargetInfoConfig controls the target_info series.
type TargetInfoConfig struct {
	// Enabled emits target_info{job,instance,<resource attributes>} 1. Default true.
	Enabled bool `mapstructure:"enabled"`
}

// Config is the configuration of the prometheusremotewrite exporter. The keys
// shared with contrib's exporter keep contrib's meaning.
type Config struct {
	// ClientConfig holds endpoint, headers, timeout (default 30s), TLS and auth.
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// QueueConfig is exporterhelper's sending_queue; num_consumers must be 1.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is exporterhelper's retry_on_failure.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Protocol is v1 (default) or v2.
	Protocol Protocol `mapstructure:"protocol"`
	// V2Unacknowledged is fallback_to_v1 (default) or fail.
	V2Unacknowledged V2Unacknowledged `mapstructure:"v2_unacknowledged"`
	// Shards is the number of concurrent requests per export, series are
	// assigned to shards by a hash of their labels. Default 4, 1..256.
	Shards int `mapstructure:"shards"`
	// MaxBatchSizeBytes bounds one request's uncompressed size (contrib's
	// key): a shard that would be larger is sent as several requests, one
	// after the other, never splitting the series of one data point (a
	// single data point larger than the limit is sent alone). The estimate
	// is an upper bound of the encoding. Default 1 MiB.
	MaxBatchSizeBytes int `mapstructure:"max_batch_size_bytes"`

	// Namespace is prefixed to every metric name.
	Namespace string `mapstructure:"namespace"`
	// ExternalLabels are added to every series that does not already have them.
	ExternalLabels map[string]string `mapstructure:"external_labels"`
	// ResourceToTelemetryConversion copies resource attributes onto every series.
	ResourceToTelemetryConversion ResourceToTelemetryConfig `mapstructure:"resource_to_telemetry_conversion"`
	// TargetInfo emits target_info.
	TargetInfo TargetInfoConfig `mapstructure:"target_info"`
	// AddMetricSuffixes adds type and unit suffixes (_total, _seconds). Default true.
	// Only used when translation_strategy is not set.
	AddMetricSuffixes bool `mapstructure:"add_metric_suffixes"`
	// TranslationStrategy is one of otlptranslator's strategies; empty derives
	// it from add_metric_suffixes (UnderscoreEscapingWith[out]Suffixes).
	TranslationStrategy otlptranslator.TranslationStrategyOption `mapstructure:"translation_strategy"`
	// AddScopeLabels adds otel_scope_name and otel_scope_version. Default false.
	AddScopeLabels bool `mapstructure:"add_scope_labels"`
	// SendMetadata sends metric metadata in 1.0 requests (2.0 always carries it). Default false.
	SendMetadata bool `mapstructure:"send_metadata"`
	// FloatLabelFormat formats the le and quantile label values: otlp
	// (default; "1", as Prometheus' OTLP endpoint writes them) or
	// openmetrics ("1.0", as Prometheus 3 stores scraped series; for
	// series from the prometheus receiver).
	FloatLabelFormat FloatLabelFormat `mapstructure:"float_label_format"`
}

// FloatLabelFormat is how le and quantile label values are formatted.
type FloatLabelFormat string

const (
	// FloatLabelsOTLP formats as Prometheus' OTLP endpoint: 1 → "1".
	FloatLabelsOTLP FloatLabelFormat = "otlp"
	// FloatLabelsOpenMetrics formats as Prometheus 3 stores scraped series: 1 → "1.0".
	FloatLabelsOpenMetrics FloatLabelFormat = "openmetrics"
)

// UnmarshalText rejects unknown formats.
func (f *FloatLabelFormat) UnmarshalText(b []byte) error {
	return configenum.Set(f, b, "float_label_format", "must be otlp or openmetrics", FloatLabelsOTLP, FloatLabelsOpenMetrics)
}

var (
	_ component.Config    = (*Config)(nil)
	_ confmap.Unmarshaler = (*Config)(nil)
)

// Unmarshal rejects unknown keys, then decodes: confighttp.ClientConfig is
// squashed into Config and implements confmap.Unmarshaler, which switches the
// decoder's own unknown-key check off (see internal/strictconfig).
func (cfg *Config) Unmarshal(conf *confmap.Conf) error {
	return strictconfig.Unmarshal(conf, cfg)
}

const (
	maxShards = 256
	// minBatchSizeBytes keeps requests from becoming one per data point.
	minBatchSizeBytes = 4096
)

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("`endpoint` must be set to the remote-write URL, e.g. http://127.0.0.1:9090/api/v1/write"))
	} else if u, err := url.Parse(cfg.ClientConfig.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("`endpoint` (%q) must be an absolute http:// or https:// URL", cfg.ClientConfig.Endpoint))
	}
	if cfg.Shards < 1 || cfg.Shards > maxShards {
		errs = append(errs, fmt.Errorf("`shards` (%d) must be between 1 and %d", cfg.Shards, maxShards))
	}
	if cfg.MaxBatchSizeBytes < minBatchSizeBytes {
		errs = append(errs, fmt.Errorf("`max_batch_size_bytes` (%d) must be at least %d", cfg.MaxBatchSizeBytes, minBatchSizeBytes))
	}
	if cfg.QueueConfig.HasValue() {
		if n := cfg.QueueConfig.Get().NumConsumers; n != 1 {
			errs = append(errs, fmt.Errorf("`sending_queue::num_consumers` (%d) must be 1: concurrent consumers would reorder samples of a series; use `shards` for concurrent sends", n))
		}
		if b := cfg.QueueConfig.Get().Batch.Get(); b != nil && b.MaxSize > 0 {
			errs = append(errs, fmt.Errorf("`sending_queue::batch::max_size` (%d) is not supported: queued exports are merged, not split; `max_batch_size_bytes` bounds the requests", b.MaxSize))
		}
	}
	switch cfg.TranslationStrategy {
	case "", otlptranslator.UnderscoreEscapingWithSuffixes, otlptranslator.UnderscoreEscapingWithoutSuffixes,
		otlptranslator.NoUTF8EscapingWithSuffixes, otlptranslator.NoTranslation:
	default:
		errs = append(errs, fmt.Errorf("`translation_strategy` (%q) must be one of UnderscoreEscapingWithSuffixes, UnderscoreEscapingWithoutSuffixes, NoUTF8EscapingWithSuffixes, NoTranslation", cfg.TranslationStrategy))
	}
	if cfg.TranslationStrategy != "" && !cfg.AddMetricSuffixes {
		errs = append(errs, fmt.Errorf("`add_metric_suffixes` (false) cannot be combined with `translation_strategy` (%q): set only `translation_strategy`", cfg.TranslationStrategy))
	}
	for k, v := range cfg.ExternalLabels {
		switch {
		case !model.LegacyValidation.IsValidLabelName(k):
			errs = append(errs, fmt.Errorf("`external_labels` key %q must match [a-zA-Z_][a-zA-Z0-9_]*", k))
		case strings.HasPrefix(k, "__"):
			errs = append(errs, fmt.Errorf("`external_labels` key %q must not start with \"__\" (reserved by Prometheus)", k))
		case v == "":
			errs = append(errs, fmt.Errorf("`external_labels::%s` must not be empty", k))
		}
	}
	return errors.Join(errs...)
}

// strategy returns the effective translation strategy.
func (cfg *Config) strategy() otlptranslator.TranslationStrategyOption {
	if cfg.TranslationStrategy != "" {
		return cfg.TranslationStrategy
	}
	if cfg.AddMetricSuffixes {
		return otlptranslator.UnderscoreEscapingWithSuffixes
	}
	return otlptranslator.UnderscoreEscapingWithoutSuffixes
}
