// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The texts below are the identifying passages of each licence (title,
// version line, key grant), laid out as the licence files lay them out.
const (
	apacheText = `
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION`
	mitText = `MIT License

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal`
	bsd3Text = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are
met:
   * Neither the name of Google Inc. nor the names of its
contributors may be used to endorse or promote products derived from`
	bsd2Text = `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:
1. Redistributions of source code must retain the above copyright notice.`
	iscText = `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above`
	mplText = `Mozilla Public License Version 2.0
==================================
1.12. "Secondary License"
    means either the GNU General Public License, Version 2.0, the GNU Lesser
    General Public License, Version 2.1, the GNU Affero General Public
    License, Version 3.0, or any later versions of those licenses.`
	agplText = `                    GNU AFFERO GENERAL PUBLIC LICENSE
                       Version 3, 19 November 2007
  13. Remote Network Interaction; Use with the GNU General Public License.`
	gplText = `                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007`
	gpl2Notice = `This program is free software; you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation; either version 2 of the License.`
	lgplText = `                   GNU LESSER GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007
  This version of the GNU Lesser General Public License incorporates
the terms and conditions of version 3 of the GNU General Public
License, supplemented by the additional permissions listed below.`
	ssplText = `                     Server Side Public License
                     VERSION 1, OCTOBER 16, 2018`
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		text string
		want []string
	}{
		"apache":             {apacheText, []string{apache2}},
		"mit":                {mitText, []string{mit}},
		"bsd3":               {bsd3Text, []string{bsd3}},
		"bsd2":               {bsd2Text, []string{bsd2}},
		"isc":                {iscText, []string{isc}},
		"mpl names the gpls": {mplText, []string{mpl2}},
		"agpl":               {agplText, []string{agpl}},
		"gpl":                {gplText, []string{gpl}},
		"gpl notice":         {gpl2Notice, []string{gpl}},
		"lgpl is not gpl":    {lgplText, []string{lgpl}},
		"sspl":               {ssplText, []string{sspl}},
		"apache and mit":     {apacheText + "\n\n" + mitText, []string{apache2, mit}},
		"unrecognised":       {"All rights reserved. Contact us for licensing.", []string{unknown}},
	} {
		if got := classify(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: classify = %v, want %v", name, got, tc.want)
		}
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ids  []string
		want verdict
	}{
		{[]string{apache2}, verdictOK},
		{[]string{apache2, bsd3, mit}, verdictOK},
		{[]string{mpl2}, verdictOK},
		{[]string{agpl}, verdictForbidden},
		{[]string{apache2, gpl}, verdictForbidden},
		{[]string{sspl}, verdictForbidden},
		{[]string{lgpl}, verdictReview},
		{[]string{unknown}, verdictReview},
		{nil, verdictReview},
	} {
		if got := judge(tc.ids); got != tc.want {
			t.Errorf("judge(%v) = %v, want %v", tc.ids, got, tc.want)
		}
	}
}

func TestModuleLicencesReadsRootFilesOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("LICENSE", apacheText)
	write("COPYING.md", mitText)
	write("third_party/gpl/LICENSE", gplText) // not the module's licence
	write("LICENSING.md", agplText)           // not a licence file name
	ids, files, err := moduleLicences(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{apache2, mit}; !reflect.DeepEqual(ids, want) {
		t.Errorf("licences = %v, want %v", ids, want)
	}
	if want := []string{"COPYING.md", "LICENSE"}; !reflect.DeepEqual(files, want) {
		t.Errorf("files = %v, want %v", files, want)
	}
}

func TestReviewedListCannotAllowForbiddenLicences(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "reviewed.tsv")
	if err := os.WriteFile(p, []byte("example.com/m\tAGPL\tlooked fine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readReviewed(p); err == nil || !strings.Contains(err.Error(), "cannot be allowed") {
		t.Fatalf("readReviewed = %v, want a refusal", err)
	}
}

func TestCheckVersions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("go.mod", "module example.com/x\n\ngo 1.26\n\nrequire example.com/dep v1.2.3\n")
	versions := write("versions.sh", "TOOL_VERSION=1.0.0 # why\nOTHER_MODULE_VERSION=2.0.0\n")
	good := write("good.md", "| `TOOL_VERSION` | 1.0.0 | x |\n| `OTHER_MODULE_VERSION` | 2.0.0 | y |\n| `example.com/dep` | v1.2.3 | z |\nrun ~/.cache/vigil/tool-1.0.0/tool\n")
	var out strings.Builder
	if err := checkVersions(&out, good, versions, dir); err != nil {
		t.Fatalf("matching README: %v", err)
	}

	bad := write("bad.md", "| `TOOL_VERSION` | 1.0.1 | x |\n| `example.com/dep` | v1.2.4 | z |\nrun ~/.cache/vigil/other-2.0.1/other\n")
	err := checkVersions(&out, bad, versions, dir)
	if err == nil {
		t.Fatal("a README with stale versions passed")
	}
	for _, want := range []string{
		"TOOL_VERSION = 1.0.1, but the pin is 1.0.0",
		"example.com/dep = v1.2.4, but the pin is v1.2.3",
		"other-2.0.1, but OTHER_MODULE_VERSION is 2.0.0",
		"has no row for it", // OTHER_MODULE_VERSION is not in bad.md's table
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
