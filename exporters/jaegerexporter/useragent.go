// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package jaegerexporter // import "github.com/vigil-otel/vigil/exporters/jaegerexporter"

import (
	"fmt"
	"runtime"

	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/exporter"
	"google.golang.org/grpc"
)

func configgrpcUserAgent(set exporter.Settings) configgrpc.ToClientConnOption {
	ua := fmt.Sprintf("%s/%s (%s/%s)", set.BuildInfo.Description, set.BuildInfo.Version, runtime.GOOS, runtime.GOARCH)
	return configgrpc.WithGrpcDialOption(grpc.WithUserAgent(ua))
}
