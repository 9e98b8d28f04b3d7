// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package shardsend

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"10000000000", 0},   // overflows time.Duration: malformed
		{"9999999999999", 0}, // would wrap to a wrong positive value
		{"soon", 0},
		{"Sun, 22 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Sunday, 22-Nov-26 10:01:00 GMT", time.Minute}, // RFC 850 form
		{"Sun, 22 Nov 2026 09:59:00 GMT", 0},            // in the past
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.in != "" {
			h.Set("Retry-After", tt.in)
		}
		if got := RetryAfter(h, now); got != tt.want {
			t.Errorf("RetryAfter(Retry-After: %q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "5", "Sun, 22 Nov 2026 10:00:30 GMT", "-1", "99999999999999999999", "10000000000"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v: negative", v, d)
		}
	})
}
