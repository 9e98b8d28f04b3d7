// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

//go:build !linux

package tcpstats

import "errors"

// ErrUnsupported is returned by Load on operating systems other than Linux.
var ErrUnsupported = errors.New("tcpstats: eBPF is only supported on Linux")

// Tracer is a stub outside Linux; Load never returns one.
type Tracer struct{}

// Load always fails outside Linux.
func Load(Config) (*Tracer, error) { return nil, ErrUnsupported }

// Attachments returns nothing outside Linux.
func (*Tracer) Attachments() []Attachment { return nil }

// Close does nothing outside Linux.
func (*Tracer) Close() error { return nil }

// ReadPeers does nothing outside Linux.
func (*Tracer) ReadPeers(func(Peer, PeerStats)) (int, error) { return 0, ErrUnsupported }

// ReadStates does nothing outside Linux.
func (*Tracer) ReadStates(func(StateKey, int64)) error { return ErrUnsupported }

// Drops returns nothing outside Linux.
func (*Tracer) Drops() (Drops, error) { return Drops{}, ErrUnsupported }

// ReadNewCgroups does nothing outside Linux.
func (*Tracer) ReadNewCgroups(func(uint64, string)) error { return ErrUnsupported }

// ForgetCgroups does nothing outside Linux.
func (*Tracer) ForgetCgroups([]uint64) (int, error) { return 0, ErrUnsupported }
