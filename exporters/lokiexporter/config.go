// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package lokiexporter // import "github.com/vigil-otel/vigil/exporters/lokiexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/vigil-otel/vigil/internal/configenum"
	"github.com/vigil-otel/vigil/internal/strictconfig"
)

// maxLabels is Loki's default `max_label_names_per_series`. A stream with more
// label names is refused by the distributor, so more is a config error here.
const maxLabels = 15

// maxShards bounds the number of concurrent push requests one batch is split into.
const maxShards = 64

// Config defines the configuration of the Loki exporter.
type Config struct {
	// ClientConfig is the HTTP client; `endpoint` is the full push URL,
	// e.g. http://127.0.0.1:3100/loki/api/v1/push. `timeout` bounds each push
	// attempt (default 30s).
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`
	// QueueConfig is exporterhelper's sending queue (set `storage` for a
	// persistent queue). `num_consumers` must be 1: see `shards`.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is exporterhelper's retry with backoff; Retry-After from Loki
	// extends the wait.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Labels chooses the attributes that become Loki index labels.
	Labels LabelsConfig `mapstructure:"labels"`
	// LineFormat is how the log line is written: raw, json or logfmt. Default raw.
	LineFormat LineFormat `mapstructure:"line_format"`
	// StructuredMetadata chooses what travels as Loki structured metadata.
	StructuredMetadata StructuredMetadataConfig `mapstructure:"structured_metadata"`
	// MaxLineSize is the largest line sent, in bytes; 0 means no limit.
	// Default 262144 (Loki's default `max_line_size`, 256KiB).
	MaxLineSize int `mapstructure:"max_line_size"`
	// MaxLineSizeAction is what happens to a longer line: truncate or drop. Default truncate.
	MaxLineSizeAction LineSizeAction `mapstructure:"max_line_size_action"`
	// Tenant sets Loki's X-Scope-OrgID header.
	Tenant TenantConfig `mapstructure:"tenant"`
	// Shards is the number of concurrent push requests a batch is split into,
	// by stream (default 4). Every stream of a batch goes into exactly one of
	// them, and batches are sent one at a time, so no stream is ever reordered.
	Shards int `mapstructure:"shards"`
}

// LabelsConfig chooses the index labels of each stream.
type LabelsConfig struct {
	// ResourceAttributes are resource attributes promoted to labels.
	ResourceAttributes []LabelRule `mapstructure:"resource_attributes"`
	// Attributes are log-record attributes promoted to labels.
	Attributes []LabelRule `mapstructure:"attributes"`
	// Severity is the label name that carries the record's severity
	// (lower case text, or derived from the severity number; "unknown" when
	// neither is set). Empty disables the label. Default "level".
	Severity string `mapstructure:"severity"`
}

// LabelRule promotes one attribute to a label.
type LabelRule struct {
	// Attribute is the attribute key, e.g. service.name.
	Attribute string `mapstructure:"attribute"`
	// Label is the label name; empty means the attribute key sanitised to
	// Loki's label-name rules (service.name → service_name).
	Label string `mapstructure:"label"`
}

// StructuredMetadataConfig chooses what travels as structured metadata
// (Loki ≥ 2.9 with `allow_structured_metadata`).
type StructuredMetadataConfig struct {
	// Enabled sends trace_id, span_id and Attributes as structured metadata.
	// When false they go into the line (json/logfmt) instead. Default true.
	Enabled bool `mapstructure:"enabled"`
	// Attributes are attribute keys (looked up on the record, then on the
	// resource) sent as structured metadata, named by sanitising the key.
	Attributes []string `mapstructure:"attributes"`
	// OtherAttributes sends every record and resource attribute that is
	// neither a label nor written into the line as structured metadata, as
	// Loki's own OTLP endpoint does. With line_format raw that is every
	// attribute that is not a label; json and logfmt lines already carry
	// them, so it adds nothing there. Default true: a raw line would
	// otherwise lose them.
	OtherAttributes bool `mapstructure:"other_attributes"`
}

// TenantConfig chooses the X-Scope-OrgID header.
type TenantConfig struct {
	// ID is a fixed tenant; empty sends no header unless ResourceAttribute matches.
	ID string `mapstructure:"id"`
	// ResourceAttribute, when set, takes the tenant from this resource
	// attribute; resources without it use ID.
	ResourceAttribute string `mapstructure:"resource_attribute"`
}

// LineFormat is the format of the log line.
type LineFormat string

const (
	// LineFormatRaw sends the body as text.
	LineFormatRaw LineFormat = "raw"
	// LineFormatJSON sends a JSON object with the body and the attributes that are neither labels nor structured metadata.
	LineFormatJSON LineFormat = "json"
	// LineFormatLogfmt sends logfmt with the body and the attributes that are neither labels nor structured metadata.
	LineFormatLogfmt LineFormat = "logfmt"
)

// UnmarshalText rejects unknown line formats.
func (f *LineFormat) UnmarshalText(text []byte) error {
	return configenum.Set(f, text, "line_format", "must be raw, json or logfmt", LineFormatRaw, LineFormatJSON, LineFormatLogfmt)
}

// LineSizeAction is what happens to a line longer than max_line_size.
type LineSizeAction string

const (
	// LineSizeTruncate cuts the line to max_line_size bytes (at a UTF-8 boundary).
	LineSizeTruncate LineSizeAction = "truncate"
	// LineSizeDrop drops the entry and counts it (reason line_too_long).
	LineSizeDrop LineSizeAction = "drop"
)

// UnmarshalText rejects unknown actions.
func (a *LineSizeAction) UnmarshalText(text []byte) error {
	return configenum.Set(a, text, "max_line_size_action", "must be truncate or drop", LineSizeTruncate, LineSizeDrop)
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

// highCardinality lists attributes whose values are (nearly) unique per
// request, pod or record. As labels each value would create a new stream and
// blow up Loki's index; they belong in structured metadata.
// k8s.pod.name is not listed: a pod's name lives as long as its log stream
// (one stream per pod and container is what Promtail, Alloy and Loki's own
// OTLP endpoint make), while k8s.pod.uid and container ids would add nothing
// but churn on top of it.
var highCardinality = map[string]bool{
	"trace_id": true, "span_id": true, "traceid": true, "spanid": true,
	"trace.id": true, "span.id": true, "trace_flags": true,
	"k8s.pod.uid": true, "k8s.container.id": true, "container.id": true,
	"process.pid": true, "process.command_line": true, "host.id": true,
	"http.url": true, "url.full": true, "http.target": true, "url.path": true, "url.query": true,
	"client.address": true, "client.port": true, "net.peer.ip": true, "net.peer.port": true,
	"network.peer.address": true, "network.peer.port": true, "source.address": true, "source.port": true,
	"user.id": true, "enduser.id": true, "session.id": true, "log.record.uid": true,
	"exception.message": true, "exception.stacktrace": true, "message": true,
}

// Validate checks the configuration.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.ClientConfig.Endpoint == "" {
		errs = append(errs, errors.New("`endpoint` must be set to Loki's push URL, e.g. http://127.0.0.1:3100/loki/api/v1/push"))
	} else if u, err := url.Parse(cfg.ClientConfig.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("`endpoint` (%q) must be an http:// or https:// URL with a host", cfg.ClientConfig.Endpoint))
	}
	if cfg.QueueConfig.HasValue() && cfg.QueueConfig.Get().NumConsumers != 1 {
		errs = append(errs, fmt.Errorf("`sending_queue::num_consumers` (%d) must be 1: concurrent batches can reorder a stream; raise `shards` for concurrency instead", cfg.QueueConfig.Get().NumConsumers))
	}
	if cfg.Shards < 1 || cfg.Shards > maxShards {
		errs = append(errs, fmt.Errorf("`shards` (%d) must be between 1 and %d", cfg.Shards, maxShards))
	}
	if cfg.MaxLineSize < 0 {
		errs = append(errs, fmt.Errorf("`max_line_size` (%d) must not be negative (0 means no limit)", cfg.MaxLineSize))
	}
	switch cfg.LineFormat {
	case LineFormatRaw, LineFormatJSON, LineFormatLogfmt:
	default:
		errs = append(errs, fmt.Errorf("`line_format` (%q) must be raw, json or logfmt", cfg.LineFormat))
	}
	switch cfg.MaxLineSizeAction {
	case LineSizeTruncate, LineSizeDrop:
	default:
		errs = append(errs, fmt.Errorf("`max_line_size_action` (%q) must be truncate or drop", cfg.MaxLineSizeAction))
	}
	errs = append(errs, cfg.validateLabels()...)
	errs = append(errs, cfg.validateStructuredMetadata()...)
	return errors.Join(errs...)
}

func (cfg *Config) validateLabels() []error {
	var errs []error
	seen := map[string]string{} // label name → key that produced it
	add := func(key, name string) {
		if prev, dup := seen[name]; dup {
			errs = append(errs, fmt.Errorf("`%s` produces label %q, which `%s` already produces", key, name, prev))
			return
		}
		seen[name] = key
	}
	check := func(section string, rules []LabelRule) {
		attrs := map[string]bool{}
		for i, r := range rules {
			key := fmt.Sprintf("labels::%s[%d]", section, i)
			switch {
			case r.Attribute == "":
				errs = append(errs, fmt.Errorf("`%s::attribute` must not be empty", key))
				continue
			case attrs[r.Attribute]:
				errs = append(errs, fmt.Errorf("`%s::attribute` (%q) is listed twice in `labels::%s`", key, r.Attribute, section))
				continue
			case highCardinality[strings.ToLower(r.Attribute)]:
				errs = append(errs, fmt.Errorf("`%s::attribute` (%q) is a high-cardinality attribute and must not be a label (each value makes a new stream); use `structured_metadata::attributes`", key, r.Attribute))
				continue
			}
			attrs[r.Attribute] = true
			name := r.Label
			if name == "" {
				name = sanitizeLabelName(r.Attribute)
			} else if !validLabelName(name) {
				errs = append(errs, fmt.Errorf("`%s::label` (%q) is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", key, name))
				continue
			}
			add(key+"::attribute", name)
		}
	}
	check("resource_attributes", cfg.Labels.ResourceAttributes)
	check("attributes", cfg.Labels.Attributes)
	if cfg.Labels.Severity != "" {
		if !validLabelName(cfg.Labels.Severity) {
			errs = append(errs, fmt.Errorf("`labels::severity` (%q) is not a valid Loki label name: it must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", cfg.Labels.Severity))
		} else {
			add("labels::severity", cfg.Labels.Severity)
		}
	}
	if n := len(cfg.Labels.ResourceAttributes) + len(cfg.Labels.Attributes) + boolInt(cfg.Labels.Severity != ""); n > maxLabels {
		errs = append(errs, fmt.Errorf("`labels` defines %d labels; Loki accepts at most %d label names per stream", n, maxLabels))
	}
	return errs
}

func (cfg *Config) validateStructuredMetadata() []error {
	var errs []error
	seen := map[string]bool{"trace_id": true, "span_id": true}
	for i, a := range cfg.StructuredMetadata.Attributes {
		key := fmt.Sprintf("structured_metadata::attributes[%d]", i)
		if a == "" {
			errs = append(errs, fmt.Errorf("`%s` must not be empty", key))
			continue
		}
		name := sanitizeLabelName(a)
		if seen[name] {
			errs = append(errs, fmt.Errorf("`%s` (%q) duplicates structured metadata field %q", key, a, name))
			continue
		}
		seen[name] = true
	}
	return errs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// validLabelName reports whether s is a Loki label name that a user may set:
// [a-zA-Z_][a-zA-Z0-9_]*, not starting with the reserved "__".
func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// sanitizeLabelName maps an attribute key to a Loki label name: every byte
// outside [a-zA-Z0-9_] becomes '_', a leading digit gets a '_' prefix and a
// reserved "__" prefix is collapsed to one '_'.
func sanitizeLabelName(s string) string {
	if validLabelName(s) {
		return s
	}
	b := make([]byte, 0, len(s)+1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	if len(b) == 0 || (b[0] >= '0' && b[0] <= '9') {
		b = append([]byte{'_'}, b...)
	}
	for len(b) > 1 && b[0] == '_' && b[1] == '_' {
		b = b[1:]
	}
	return string(b)
}
