// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package shardsend

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
)

// TestClassify is the status-code table of both exporters.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want Status
	}{
		{200, Accepted}, {204, Accepted}, {299, Accepted},
		{429, Retryable}, {500, Retryable}, {502, Retryable}, {503, Retryable}, {504, Retryable}, {599, Retryable},
		{100, Rejected}, {301, Rejected}, {304, Rejected}, {400, Rejected}, {401, Rejected}, {404, Rejected},
		{409, Rejected}, {413, Rejected}, {415, Rejected}, {428, Rejected}, {430, Rejected},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Classify(tt.code), "status %d", tt.code)
	}
}

func TestSendCallsEveryShardOnce(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 7} {
		calls := make([]atomic.Int32, n)
		errs := Send(n, func(i int) error {
			calls[i].Add(1)
			if i%2 == 1 {
				return fmt.Errorf("shard %d", i)
			}
			return nil
		})
		require.Len(t, errs, n)
		for i := range n {
			assert.Equal(t, int32(1), calls[i].Load(), "n=%d shard %d", n, i)
			if i%2 == 1 {
				assert.EqualError(t, errs[i], fmt.Sprintf("shard %d", i))
			} else {
				assert.NoError(t, errs[i])
			}
		}
	}
}

// withData stands for the exporter's error type that carries the data of
// the failed shards.
type withData struct {
	err    error
	failed []bool
}

func (e *withData) Error() string { return e.err.Error() }
func (e *withData) Unwrap() error { return e.err }

func TestOutcome(t *testing.T) {
	t.Parallel()
	transport := errors.New("connection refused")
	throttled7 := Retry(errors.New("429 slow down"), 7*time.Second)
	throttled60 := Retry(errors.New("503 unavailable"), time.Minute)
	rejected := consumererror.NewPermanent(errors.New("401 unauthorized"))
	tests := []struct {
		name         string
		errs         []error
		wantNil      bool
		wantPerm     bool
		wantFailed   []bool
		wantThrottle string // substring, "" for no throttle
		wantMsgs     []string
	}{
		{name: "all sent", errs: []error{nil, nil}, wantNil: true},
		{name: "nothing to send", errs: nil, wantNil: true},
		{
			name: "only permanent", errs: []error{nil, rejected},
			wantPerm: true, wantMsgs: []string{"401 unauthorized"},
		},
		{
			name: "one retryable", errs: []error{nil, transport, nil},
			wantFailed: []bool{false, true, false}, wantMsgs: []string{"connection refused"},
		},
		{
			name: "retryable and permanent: retried, the permanent message kept", errs: []error{rejected, transport},
			wantFailed: []bool{false, true}, wantMsgs: []string{"connection refused", "401 unauthorized"},
		},
		{
			name: "the longest Retry-After wins", errs: []error{throttled7, throttled60, transport},
			wantFailed: []bool{true, true, true}, wantThrottle: "Throttle (1m0s)", wantMsgs: []string{"429 slow down", "503 unavailable"},
		},
		{
			name: "Retry-After of a failed shard only", errs: []error{throttled7, nil},
			wantFailed: []bool{true, false}, wantThrottle: "Throttle (7s)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := NewOutcome(tt.errs)
			called := false
			err := o.Err(func(err error) error {
				called = true
				return &withData{err: err, failed: o.Failed}
			})
			if tt.wantNil {
				require.NoError(t, err)
				assert.False(t, called)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantPerm, consumererror.IsPermanent(err))
			assert.Equal(t, !tt.wantPerm, called, "retry is asked for the data of the failed shards exactly when some shard can be retried")
			if !tt.wantPerm {
				var wd *withData
				require.ErrorAs(t, err, &wd)
				assert.Equal(t, tt.wantFailed, wd.failed)
			}
			if tt.wantThrottle != "" {
				assert.Contains(t, err.Error(), tt.wantThrottle)
			} else {
				assert.NotContains(t, err.Error(), "Throttle")
			}
			for _, m := range tt.wantMsgs {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestRetryWithoutDelayIsTheError(t *testing.T) {
	t.Parallel()
	err := errors.New("x")
	assert.Same(t, err, Retry(err, 0))
	assert.Same(t, err, Retry(err, -time.Second))
	r := Retry(err, time.Second)
	assert.ErrorIs(t, r, err)
	assert.Equal(t, "x", r.Error())
}
