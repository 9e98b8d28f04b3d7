// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"regexp"
	"sort"
	"strings"
)

// Why our own classifier: github.com/google/go-licenses is not in the
// workplace's package list, and the classifiers that are
// (github.com/google/licensecheck v0.3.1, github.com/google/licenseclassifier/v2
// v2.0.0) are marked "still served from an earlier copy, not an approved
// release". The licences found in Go modules are a handful of standard texts,
// each recognisable by a phrase that only it contains; anything else is
// "unknown" and fails the gate until a person reviews it (reviewed.tsv).

// Licence identifiers (SPDX).
const (
	apache2   = "Apache-2.0"
	mit       = "MIT"
	bsd2      = "BSD-2-Clause"
	bsd3      = "BSD-3-Clause"
	bsd4      = "BSD-4-Clause"
	isc       = "ISC"
	mpl2      = "MPL-2.0"
	unlicense = "Unlicense"
	cc0       = "CC0-1.0"
	zlib      = "Zlib"
	agpl      = "AGPL"
	gpl       = "GPL"
	lgpl      = "LGPL"
	sspl      = "SSPL"
	unknown   = "unknown"
)

// allowed licences need no review; forbidden ones fail the gate. Any other
// result (LGPL, BSD-4-Clause, unknown, no licence file) fails unless the
// module is in the reviewed list.
var (
	allowed   = map[string]bool{apache2: true, mit: true, bsd2: true, bsd3: true, isc: true, mpl2: true, unlicense: true, cc0: true, zlib: true}
	forbidden = map[string]bool{agpl: true, gpl: true, sspl: true}
)

// marker is a phrase of normalised licence text (lower case, words separated
// by one space, punctuation dropped) that identifies a licence.
type marker struct {
	id string
	re *regexp.Regexp
}

// The GPL family is recognised by the title line with its date, or by the
// "as published by the Free Software Foundation" notice: the MPL-2.0 text
// names all three GNU licences (its "Secondary Licenses") without either.
var markers = []marker{
	{agpl, regexp.MustCompile(`gnu affero general public license (version 3 19 november 2007|as published by the free software foundation)`)},
	{lgpl, regexp.MustCompile(`gnu (lesser|library) general public license (version 2 1 february 1999|version 3 29 june 2007|version 2 june 1991|as published by the free software foundation)`)},
	{gpl, regexp.MustCompile(`(^| )gnu general public license (version [23] (29 )?june (2007|1991)|as published by the free software foundation)`)},
	{sspl, regexp.MustCompile(`server side public license`)},
	{mpl2, regexp.MustCompile(`mozilla public license version 2 0`)},
	{apache2, regexp.MustCompile(`apache license version 2 0`)},
	{mit, regexp.MustCompile(`permission is hereby granted free of charge to any person obtaining a copy`)},
	{isc, regexp.MustCompile(`permission to use copy modify and (or )?distribute this software for any purpose with or without fee is hereby granted`)},
	{unlicense, regexp.MustCompile(`this is free and unencumbered software released into the public domain`)},
	{cc0, regexp.MustCompile(`cc0 1 0 universal`)},
	{zlib, regexp.MustCompile(`altered source versions must be plainly marked as such`)},
}

var (
	bsdMarker  = regexp.MustCompile(`redistribution and use in source and binary forms with or without modification are permitted provided that the following conditions are met`)
	bsd3Marker = regexp.MustCompile(`(neither the name|names of (its|the) contributors may be used to endorse)`)
	bsd4Marker = regexp.MustCompile(`all advertising materials mentioning features or use of this software`)
	nonWord    = regexp.MustCompile(`[^a-z0-9]+`)
	gplTitle   = regexp.MustCompile(`(\w+ )?gnu general public license version [23] (29 )?june (2007|1991)`)
)

func normalise(text string) string {
	return strings.TrimSpace(nonWord.ReplaceAllString(strings.ToLower(text), " "))
}

// classify returns the licences a licence file's text contains, sorted; a
// text with several (a LICENSE holding Apache-2.0 and a vendored MIT notice)
// yields each. A text matching nothing yields [unknown].
func classify(text string) []string {
	t := normalise(text)
	found := map[string]bool{}
	for _, m := range markers {
		if m.re.MatchString(t) {
			found[m.id] = true
		}
	}
	if found[agpl] || found[lgpl] {
		// Both texts refer to the GNU GPL by name and date; the GPL itself
		// is only reported when its own notice or title is there too.
		if !gplOwnText(t) {
			delete(found, gpl)
		}
	}
	if bsdMarker.MatchString(t) {
		switch {
		case bsd4Marker.MatchString(t):
			found[bsd4] = true
		case bsd3Marker.MatchString(t):
			found[bsd3] = true
		default:
			found[bsd2] = true
		}
	}
	if len(found) == 0 {
		return []string{unknown}
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// gplOwnText reports whether t holds the GPL's own title: "GNU GENERAL PUBLIC
// LICENSE" immediately followed by its version line, not preceded by
// "lesser", "library" or "affero".
func gplOwnText(t string) bool {
	for _, m := range gplTitle.FindAllStringSubmatch(t, -1) {
		switch strings.TrimSpace(m[1]) {
		case "lesser", "library", "affero", "the":
		default:
			return true
		}
	}
	return false
}

// verdict is the gate's decision on one module's licences.
type verdict int

const (
	verdictOK verdict = iota
	verdictReview
	verdictForbidden
)

func (v verdict) String() string {
	switch v {
	case verdictOK:
		return "ok"
	case verdictReview:
		return "NEEDS REVIEW"
	default:
		return "FORBIDDEN"
	}
}

// judge decides on a module's licence identifiers: forbidden if any is
// forbidden, ok if all are allowed, otherwise review.
func judge(ids []string) verdict {
	if len(ids) == 0 {
		return verdictReview
	}
	v := verdictOK
	for _, id := range ids {
		switch {
		case forbidden[id]:
			return verdictForbidden
		case !allowed[id]:
			v = verdictReview
		}
	}
	return v
}
