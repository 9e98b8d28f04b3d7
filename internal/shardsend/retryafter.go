// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package shardsend // import "github.com/vigil-otel/vigil/internal/shardsend"

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter returns the delay the Retry-After header of a response asks
// for (RFC 9110 §10.2.3), relative to now; see ParseRetryAfter.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return ParseRetryAfter(h.Get("Retry-After"), now)
}

// ParseRetryAfter returns the delay a Retry-After value asks for, relative to now: the
// value is delay-seconds or an HTTP-date. It returns 0 for an absent or
// malformed value, a non-positive number of seconds, or a date that has
// passed; 0 means "use the normal backoff". A number of seconds too large
// for a time.Duration (centuries) is treated as malformed, as a number too
// large for an int already is.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 || secs > int(math.MaxInt64/time.Second) {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
