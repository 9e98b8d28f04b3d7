// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package shardsend is the send path Vigil's HTTP exporters share
// (prometheusremotewrite, loki): one export is cut into shards by a hash of
// the series or stream, the shards are sent concurrently, each answer is
// classified by its HTTP status, and the outcome of the export says what
// exporterhelper retries.
//
// A shard either succeeds, fails permanently (its data is dropped and
// counted by the exporter; the error is consumererror.NewPermanent) or fails
// in a way worth retrying (any other error; Retry marks it with the delay a
// Retry-After header asked for). When some shards fail retryably, only their
// data is handed back for retry (the exporter builds it, see Outcome.Err),
// so a series or stream that was written is never sent twice and one that
// failed is never overtaken by its own later data.
package shardsend // import "github.com/vigil-otel/vigil/internal/shardsend"

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Status is what an HTTP status code means for the data of a request.
type Status int

const (
	// Accepted (2xx): the data was written.
	Accepted Status = iota
	// Retryable (429 and 5xx): the data is sent again, after the delay of
	// a Retry-After header if there is one.
	Retryable
	// Rejected (every other code): sending the same data again cannot
	// succeed; it is dropped and counted.
	Rejected
)

// Classify returns what an HTTP status code means for the data of a
// request. It is the status-code table both exporters document: exporters
// that treat a code specially (Loki's 400, remote-write 2.0's 415) do so
// before they classify.
func Classify(code int) Status {
	switch {
	case code/100 == 2:
		return Accepted
	case code == http.StatusTooManyRequests || code/100 == 5:
		return Retryable
	}
	return Rejected
}

// retryError is a retryable failure that asks to be retried after delay.
type retryError struct {
	err   error
	delay time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Retry returns err, retryable, asking to be retried after delay (when
// delay is positive; otherwise after exporterhelper's normal backoff).
func Retry(err error, delay time.Duration) error {
	if delay <= 0 {
		return err
	}
	return &retryError{err: err, delay: delay}
}

// Send calls send for every shard in [0, n), concurrently, and returns
// their errors, indexed by shard. One shard is sent on the calling
// goroutine.
func Send(n int, send func(shard int) error) []error {
	errs := make([]error, n)
	if n == 1 {
		errs[0] = send(0)
		return errs
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = send(i) })
	}
	wg.Wait()
	return errs
}

// Outcome is the result of sending the shards of one export.
type Outcome struct {
	// Failed[i] is true when shard i failed with a retryable error: its
	// data, and only its data, is to be retried.
	Failed []bool

	retryable, permanent []error
	delay                time.Duration // the longest delay a failed shard asked for
}

// NewOutcome classifies the errors Send returned.
func NewOutcome(errs []error) *Outcome {
	o := &Outcome{Failed: make([]bool, len(errs))}
	for i, err := range errs {
		switch {
		case err == nil:
		case consumererror.IsPermanent(err):
			o.permanent = append(o.permanent, err)
		default:
			o.Failed[i] = true
			o.retryable = append(o.retryable, err)
			if re, ok := errors.AsType[*retryError](err); ok {
				o.delay = max(o.delay, re.delay)
			}
		}
	}
	return o
}

// AnyFailed reports whether some shard failed with a retryable error.
func (o *Outcome) AnyFailed() bool { return len(o.retryable) > 0 }

// Err returns the error of the whole export:
//   - nil when every shard succeeded;
//   - when some shard failed retryably, retry(err), which attaches the data
//     of the failed shards (Failed) to err for exporterhelper to retry. err
//     joins every shard's error, the permanent ones without their permanent
//     mark (the retry must not be dropped because another shard's data
//     was), and carries the longest Retry-After delay of the failed shards
//     as exporterhelper's throttle;
//   - otherwise (only permanent failures) a permanent error joining them.
func (o *Outcome) Err(retry func(err error) error) error {
	if o.AnyFailed() {
		errs := o.retryable
		for _, p := range o.permanent {
			errs = append(errs, notPermanent(p))
		}
		err := errors.Join(errs...)
		if o.delay > 0 {
			err = exporterhelper.NewThrottleRetry(err, o.delay)
		}
		return retry(err)
	}
	if len(o.permanent) > 0 {
		return consumererror.NewPermanent(errors.Join(o.permanent...))
	}
	return nil
}

// notPermanent returns the error a permanent error wraps: its message,
// without the permanent mark.
func notPermanent(err error) error {
	if inner := errors.Unwrap(err); inner != nil && !consumererror.IsPermanent(inner) {
		return inner
	}
	return errors.New(err.Error())
}
