// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package kernelreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/vigil-otel/vigil/ebpf/tcpstats"
	"github.com/vigil-otel/vigil/receivers/kernelreceiver/internal/metadata"
)

// Config is the configuration of the kernel receiver.
type Config struct {
	// CollectionInterval is how often the kernel maps are read and metrics
	// emitted. Default 10s; at least 100ms.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`

	// Degrade keeps the gateway running when the eBPF programs cannot be
	// loaded (not root, no BTF, verifier rejection) or some hooks do not
	// attach: the receiver logs once, reports a recoverable-error status and
	// emits nothing (or what the attached hooks see). Default false: Start
	// fails with the reason.
	Degrade bool `mapstructure:"degrade"`

	// MaxPeers is the capacity of the kernel's per-peer statistics map.
	// Events for new peers beyond it are dropped and counted. Default 16384.
	MaxPeers int `mapstructure:"max_peers"`
	// MaxPeersPerCgroup is how many distinct peers one cgroup (container)
	// may have; further peers fold into its "overflow" peer, counted.
	// Default 512.
	MaxPeersPerCgroup int `mapstructure:"max_peers_per_cgroup"`
	// MaxCgroups bounds the kernel's per-cgroup peer counters. Default 4096.
	MaxCgroups int `mapstructure:"max_cgroups"`
	// MaxSockets sizes the kernel's per-socket table (connect latency,
	// connections by state): 2 x MaxSockets slots. Default 65536.
	MaxSockets int `mapstructure:"max_sockets"`
	// MaxStateEntries bounds the (cgroup, netns) pairs whose connection
	// state gauges are remembered (reported as 0 once empty). Default 8192.
	MaxStateEntries int `mapstructure:"max_state_entries"`

	// CgroupRoot is the cgroup v2 mount point. Empty (default): found in
	// /proc/self/mountinfo.
	CgroupRoot string `mapstructure:"cgroup_root"`
	// MaxCgroupPaths bounds the cgroup id → path index. Default 16384.
	MaxCgroupPaths int `mapstructure:"max_cgroup_paths"`

	MetricsBuilderConfig metadata.MetricsBuilderConfig `mapstructure:",squash"`
}

var _ component.Config = (*Config)(nil)

const maxMapEntries = 1 << 24

func createDefaultConfig() component.Config {
	return &Config{
		CollectionInterval:   10 * time.Second,
		MaxPeers:             tcpstats.DefaultMaxPeers,
		MaxPeersPerCgroup:    tcpstats.DefaultMaxPeersPerCgroup,
		MaxCgroups:           tcpstats.DefaultMaxCgroups,
		MaxSockets:           tcpstats.DefaultMaxSockets,
		MaxStateEntries:      8192,
		MaxCgroupPaths:       16384,
		MetricsBuilderConfig: metadata.DefaultMetricsBuilderConfig(),
	}
}

// Validate checks the interval and the map sizes.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.CollectionInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("`collection_interval` (%s) must be at least 100ms", cfg.CollectionInterval))
	}
	for _, f := range []struct {
		key string
		v   int
	}{
		{"max_peers", cfg.MaxPeers},
		{"max_peers_per_cgroup", cfg.MaxPeersPerCgroup},
		{"max_cgroups", cfg.MaxCgroups},
		{"max_sockets", cfg.MaxSockets},
		{"max_state_entries", cfg.MaxStateEntries},
		{"max_cgroup_paths", cfg.MaxCgroupPaths},
	} {
		if f.v < 1 || f.v > maxMapEntries {
			errs = append(errs, fmt.Errorf("`%s` (%d) must be between 1 and %d", f.key, f.v, maxMapEntries))
		}
	}
	if cfg.MaxPeersPerCgroup > cfg.MaxPeers {
		errs = append(errs, fmt.Errorf("`max_peers_per_cgroup` (%d) must not be greater than `max_peers` (%d)", cfg.MaxPeersPerCgroup, cfg.MaxPeers))
	}
	return errors.Join(errs...)
}

func (cfg *Config) tracerConfig() tcpstats.Config {
	return tcpstats.Config{
		MaxPeers:          uint32(cfg.MaxPeers),
		MaxPeersPerCgroup: uint32(cfg.MaxPeersPerCgroup),
		MaxCgroups:        uint32(cfg.MaxCgroups),
		MaxSockets:        uint32(cfg.MaxSockets),
	}
}
