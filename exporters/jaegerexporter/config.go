// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

const (
	// defaultMaxRequestSize is grpc-go's default server receive limit (4 MiB),
	// which the Jaeger collector (v1 and v2's jaeger receiver) keeps unless
	// configured otherwise.
	defaultMaxRequestSize = 4 << 20
	// minMaxRequestSize keeps the limit large enough for any ordinary span.
	minMaxRequestSize = 1 << 10
)

// Config defines the configuration of the Jaeger gRPC (api_v2) exporter.
type Config struct {
	TimeoutConfig exporterhelper.TimeoutConfig                             `mapstructure:",squash"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	RetryConfig   configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	// ClientConfig is the gRPC client (endpoint, tls, headers, compression,
	// keepalive, balancer_name, auth, ...). Squashed so the YAML is flat, as in
	// the core OTLP exporter.
	ClientConfig configgrpc.ClientConfig `mapstructure:",squash"`

	// MaxRequestSize is the largest encoded PostSpansRequest, in bytes, that
	// is sent in one call. Larger batches are split before sending. It should
	// not exceed the collector's receive limit (default 4 MiB = 4194304).
	// A single span larger than this is dropped and counted (reason too_large).
	MaxRequestSize int `mapstructure:"max_request_size"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate checks the exporter configuration.
func (c *Config) Validate() error {
	var errs []error
	ep := c.ClientConfig.Endpoint
	switch {
	case strings.TrimSpace(ep) == "":
		errs = append(errs, errors.New("`endpoint` must not be empty: set it to the Jaeger collector's gRPC address, e.g. \"jaeger-collector:14250\""))
	case strings.Contains(ep, "://"):
		// A gRPC target URI (dns:///, unix://, passthrough:///); grpc-go
		// resolves it. http:// and https:// are a common mistake.
		if strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "https://") {
			errs = append(errs, fmt.Errorf("`endpoint` (%q) must be a gRPC target (host:port or dns:///host:port), not an HTTP URL; use `tls` settings for TLS", ep))
		}
	default:
		if _, port, err := net.SplitHostPort(ep); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("`endpoint` (%q) must be in the form host:port", ep))
		}
	}
	if c.MaxRequestSize < minMaxRequestSize {
		errs = append(errs, fmt.Errorf("`max_request_size` (%d) must be at least %d bytes", c.MaxRequestSize, minMaxRequestSize))
	}
	return errors.Join(errs...)
}
