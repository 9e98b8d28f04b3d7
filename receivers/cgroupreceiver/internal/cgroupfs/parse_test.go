// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseCase is one input of a parser of a cgroup file's contents; wantErr:
// the parser refuses it with ErrMalformed.
type parseCase[T any] struct {
	name    string
	in      string
	want    T
	wantErr bool
}

// runParseCases runs parse on each case's input as a subtest.
func runParseCases[T any](t *testing.T, parse func([]byte) (T, error), tests []parseCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parse([]byte(tt.in))
			if tt.wantErr {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseUint(t *testing.T) {
	t.Parallel()
	runParseCases(t, ParseUint, []parseCase[uint64]{
		{"memory.current", "1572864\n", 1572864, false},
		{"no newline", "42", 42, false},
		{"zero", "0\n", 0, false},
		{"max uint64", "18446744073709551615\n", 18446744073709551615, false},
		{"overflow", "18446744073709551616\n", 0, true},
		{"empty", "", 0, true},
		{"newline only", "\n", 0, true},
		{"max literal (memory.max)", "max\n", 0, true},
		{"negative", "-1\n", 0, true},
		{"two lines", "1\n2\n", 0, true},
		{"space", "1 \n", 0, true},
	})
}

func collectKeyed(t *testing.T, in string) (map[string]uint64, error) {
	t.Helper()
	got := map[string]uint64{}
	err := ParseFlatKeyed([]byte(in), func(k []byte, v uint64) { got[string(k)] = v })
	return got, err
}

func TestParseFlatKeyed(t *testing.T) {
	t.Parallel()
	// cpu.stat as cgroup-v2.rst lists its keys (with the cpu controller on).
	v2CPU := "usage_usec 2254000\nuser_usec 1754000\nsystem_usec 500000\nnr_periods 120\nnr_throttled 37\nthrottled_usec 812345\nnr_bursts 0\nburst_usec 0\n"
	got, err := collectKeyed(t, v2CPU)
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{
		"usage_usec": 2254000, "user_usec": 1754000, "system_usec": 500000,
		"nr_periods": 120, "nr_throttled": 37, "throttled_usec": 812345, "nr_bursts": 0, "burst_usec": 0,
	}, got)

	// v1 memory.oom_control.
	got, err = collectKeyed(t, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 1}, got)

	// Blank lines and a missing final newline are fine.
	got, err = collectKeyed(t, "\nlow 0\n\nhigh 3")
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"low": 0, "high": 3}, got)

	for _, bad := range []string{
		"usage_usec\n",                      // no value
		"usage_usec 12 34\n",                // two values
		"usage_usec -1\n",                   // negative
		" 12\n",                             // no key
		"usage_usec 1.5\n",                  // not an integer
		"usage_usec 99999999999999999999\n", // overflow
	} {
		got, err := collectKeyed(t, "nr_periods 5\n"+bad+"nr_throttled 2\n")
		require.ErrorIs(t, err, ErrMalformed, "%q", bad)
		// The good lines around a bad one still reach fn.
		assert.Equal(t, map[string]uint64{"nr_periods": 5, "nr_throttled": 2}, got, "%q", bad)
	}
}

func TestParsePressure(t *testing.T) {
	t.Parallel()
	runParseCases(t, ParsePressure, []parseCase[Pressure]{
		{
			// The example of Documentation/accounting/psi.rst.
			name: "psi.rst example",
			in:   "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
			want: Pressure{HasSome: true, HasFull: true},
		},
		{
			name: "busy cgroup",
			in:   "some avg10=14.31 avg60=2.58 avg300=0.54 total=1669166\nfull avg10=12.68 avg60=2.29 avg300=0.47 total=1499229\n",
			want: Pressure{SomeTotal: 1669166, FullTotal: 1499229, HasSome: true, HasFull: true},
		},
		{
			name: "/proc/pressure/cpu before 5.13: some only",
			in:   "some avg10=1.00 avg60=0.50 avg300=0.10 total=123456\n",
			want: Pressure{SomeTotal: 123456, HasSome: true},
		},
		{
			name: "field order and extra fields do not matter",
			in:   "some total=7 avg10=0.00 future=1\n",
			want: Pressure{SomeTotal: 7, HasSome: true},
		},
		{name: "empty", in: "", wantErr: true},
		{name: "no total", in: "some avg10=0.00 avg60=0.00 avg300=0.00\n", wantErr: true},
		{name: "bad total", in: "some avg10=0.00 total=x\n", wantErr: true},
		{name: "negative total", in: "full total=-5\n", wantErr: true},
		{name: "unknown kind", in: "most avg10=0.00 total=5\n", wantErr: true},
	})
}

func TestMalformedMessageIsBounded(t *testing.T) {
	t.Parallel()
	_, err := ParseUint(bytes.Repeat([]byte("x"), 10000))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 200)
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0\n", "18446744073709551615", "18446744073709551616", "max\n", "", "-1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ParseUint(in)
		want, wantErr := strconv.ParseUint(strings.TrimRight(string(in), "\n"), 10, 64)
		// It accepts what strconv accepts, except signs ("+1") and
		// digits past 20 (leading zeros), and then with the same value.
		if err == nil && (wantErr != nil || want != v) {
			t.Fatalf("ParseUint(%q) = %d, strconv: %d, %v", in, v, want, wantErr)
		}
	})
}

func FuzzParseFlatKeyed(f *testing.F) {
	for _, s := range []string{
		"usage_usec 2254000\nnr_throttled 37\n", "oom_kill 1", "a\nb c d\n", " 1\n", "k 99999999999999999999\n", "\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = ParseFlatKeyed(in, func(k []byte, _ uint64) {
			if len(k) == 0 || bytes.ContainsAny(k, " \n") {
				t.Fatalf("bad key %q from %q", k, in)
			}
		})
	})
}

func FuzzParsePressure(f *testing.F) {
	for _, s := range []string{
		"some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"some total=1", "full total=", "total=1", "some  total=2\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParsePressure(in)
		if err == nil && !p.HasSome && !p.HasFull {
			t.Fatalf("no error and no line from %q", in)
		}
	})
}
