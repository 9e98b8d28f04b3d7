// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupreceiver

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/vigil-otel/vigil/internal/configenum"
	"github.com/vigil-otel/vigil/receivers/cgroupreceiver/internal/metadata"
)

// Scope says which cgroups the receiver reports.
type Scope string

const (
	// ScopeContainers reports the cgroups whose path names a container
	// (they have a container.id). The default.
	ScopeContainers Scope = "containers"
	// ScopePods also reports the kubelet's pod-level cgroups (k8s.pod.uid
	// without container.id), which aggregate the pod's containers.
	ScopePods Scope = "pods"
	// ScopeAll reports every cgroup below the hierarchy's root (system
	// services, user sessions, slices), up to max_cgroups.
	ScopeAll Scope = "all"
)

// UnmarshalText rejects unknown scopes.
func (s *Scope) UnmarshalText(text []byte) error {
	return configenum.Set(s, text, "scope", "must be one of containers, pods, all", ScopeContainers, ScopePods, ScopeAll)
}

// Config is the configuration of the cgroup receiver.
type Config struct {
	// Controller holds collection_interval (default 10s, at least 1s),
	// initial_delay (default 1s) and timeout (default 0: none).
	Controller scraperhelper.ControllerConfig `mapstructure:",squash"`

	// CgroupRoot is where the host's cgroup hierarchies are mounted: only
	// cgroup mounts at or under it in mountinfo are used. Default
	// /sys/fs/cgroup; a pod that mounts the host's /sys/fs/cgroup elsewhere
	// names that place.
	CgroupRoot string `mapstructure:"cgroup_root"`
	// MountinfoPath is the mountinfo file the layout is detected from.
	// Default /proc/self/mountinfo.
	MountinfoPath string `mapstructure:"mountinfo_path"`
	// PressurePath is the directory of the node's pressure files. Default
	// /proc/pressure (system-wide, not namespaced).
	PressurePath string `mapstructure:"pressure_path"`

	// Scope selects the cgroups reported: containers (default), pods, all.
	Scope Scope `mapstructure:"scope"`
	// MaxCgroups bounds the cgroups reported in one scrape; further ones
	// are left out and counted in otelcol_receiver_cgroup_dropped_cgroups.
	// Default 4096.
	MaxCgroups int `mapstructure:"max_cgroups"`

	MetricsBuilderConfig metadata.MetricsBuilderConfig `mapstructure:",squash"`
}

var _ component.Config = (*Config)(nil)

const (
	minCollectionInterval = time.Second
	maxMaxCgroups         = 1 << 20
)

func createDefaultConfig() component.Config {
	ctrl := scraperhelper.NewDefaultControllerConfig()
	ctrl.CollectionInterval = 10 * time.Second
	return &Config{
		Controller:           ctrl,
		CgroupRoot:           "/sys/fs/cgroup",
		MountinfoPath:        "/proc/self/mountinfo",
		PressurePath:         "/proc/pressure",
		Scope:                ScopeContainers,
		MaxCgroups:           4096,
		MetricsBuilderConfig: metadata.DefaultMetricsBuilderConfig(),
	}
}

// Validate checks the interval, the paths, the scope and the bound (the
// scraper controller's own Validate checks timeout).
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Controller.CollectionInterval < minCollectionInterval {
		errs = append(errs, fmt.Errorf("`collection_interval` (%s) must be at least %s", cfg.Controller.CollectionInterval, minCollectionInterval))
	}
	for _, p := range []struct{ key, v string }{
		{"cgroup_root", cfg.CgroupRoot},
		{"mountinfo_path", cfg.MountinfoPath},
		{"pressure_path", cfg.PressurePath},
	} {
		if !filepath.IsAbs(p.v) {
			errs = append(errs, fmt.Errorf("`%s` (%q) must be an absolute path", p.key, p.v))
		}
	}
	switch cfg.Scope {
	case ScopeContainers, ScopePods, ScopeAll:
	default:
		errs = append(errs, fmt.Errorf("`scope` (%q) must be one of containers, pods, all", cfg.Scope))
	}
	if cfg.MaxCgroups < 1 || cfg.MaxCgroups > maxMaxCgroups {
		errs = append(errs, fmt.Errorf("`max_cgroups` (%d) must be between 1 and %d", cfg.MaxCgroups, maxMaxCgroups))
	}
	return errors.Join(errs...)
}
