// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

// This file holds the alert state machine: ok → pending → firing → ok, driven
// by the directional score of each judged sample (see series.step). A score
// above k starts pending; the alert fires once the score has stayed above
// clear_score for `for` (data time), or at once when a sample scores above
// immediate_score (a 30 s latency spike on a 5-minute series is one sample:
// waiting for a second one would never alert on it); it resolves when the
// score falls to clear_score or below.

// alertState is the state of a series' alert.
type alertState uint8

const (
	stateOK alertState = iota
	statePending
	stateFiring
)

// transition is a state change reported to the caller.
type transition uint8

const (
	transNone transition = iota
	transPending
	transFiring
	transResolved
	// transCancelled: pending dropped back to ok before `for` elapsed. Counted
	// and logged at debug severity; not an alert.
	transCancelled
	// numTransitions sizes the per-transition arrays (counts, telemetry
	// options, severities); transNone's entry is unused.
	numTransitions
)

func (t transition) String() string {
	switch t {
	case transPending:
		return "pending"
	case transFiring:
		return "firing"
	case transResolved:
		return "resolved"
	case transCancelled:
		return "cancelled"
	}
	return "none"
}

// step advances the alert state machine with the directional score.
func (s *series) step(p *params, ts int64, dirScore float64) transition {
	switch s.state {
	case stateOK:
		if dirScore > p.k {
			s.since = ts
			if p.forDur == 0 || dirScore > p.immediate {
				s.state = stateFiring
				return transFiring
			}
			s.state = statePending
			return transPending
		}
	case statePending:
		if dirScore <= p.clear {
			s.state = stateOK
			return transCancelled
		}
		if ts-s.since >= p.forDur || dirScore > p.immediate {
			s.state = stateFiring
			s.since = ts
			return transFiring
		}
	case stateFiring:
		if dirScore <= p.clear {
			s.state = stateOK
			return transResolved
		}
	}
	return transNone
}
