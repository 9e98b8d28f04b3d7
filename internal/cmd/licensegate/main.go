// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command licensegate is the licence and version gate of scripts/check.sh.
//
// It lists every module linked into vigil (go list -deps of ./cmd/gateway and
// of the go.mod tools, plus every direct requirement of go.mod) and into each
// program the project's scripts build (the targets file: module, version,
// packages and build tags, resolved from the module's own go.mod exactly as
// `go install pkg@version` does, without compiling anything), reads the
// licence files at the root of each module in the module cache, and fails if
// one is under the AGPL, GPL or SSPL, or has a licence outside the allowed set
// that is not in the reviewed list. It prints the licence table and writes or
// checks THIRD_PARTY.md from it.
//
// It also fails when a version the README documents (a row of its pinned
// versions table, or a ~/.cache/vigil/<name>-<version> path) differs from the
// pin in scripts/versions.sh or go.mod.
//
// Usage (from the repository root; scripts/check-licenses.sh runs it):
//
//	go run ./internal/cmd/licensegate -targets FILE -reviewed FILE [-write | -check] THIRD_PARTY.md
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	targets := flag.String("targets", "", "file of programs the scripts build: name module version packages [tags]")
	reviewed := flag.String("reviewed", "", "file of reviewed modules: path, licence, reason (tab-separated)")
	thirdParty := flag.String("third-party", "THIRD_PARTY.md", "the generated third-party table")
	write := flag.Bool("write", false, "rewrite the third-party table instead of checking it")
	readme := flag.String("readme", "README.md", "the README whose documented versions are checked")
	versions := flag.String("versions", "scripts/versions.sh", "the scripts' version pins")
	flag.Parse()
	if err := run(os.Stdout, *targets, *reviewed, *thirdParty, *write, *readme, *versions); err != nil {
		fmt.Fprintln(os.Stderr, "licensegate:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, targetsFile, reviewedFile, thirdParty string, write bool, readme, versions string) error {
	var errs []error
	if err := checkVersions(out, readme, versions, "."); err != nil {
		errs = append(errs, err)
	}

	rev, err := readReviewed(reviewedFile)
	if err != nil {
		return err
	}
	targets, err := readTargets(targetsFile)
	if err != nil {
		return err
	}
	uses, err := collectModules(targets)
	if err != nil {
		return err
	}
	rows, err := licenceRows(uses, rev)
	if err != nil {
		return err
	}
	printTable(out, rows)
	if err := verdicts(out, rows, rev); err != nil {
		errs = append(errs, err)
	}

	md := thirdPartyMarkdown(rows)
	if write {
		if err := os.WriteFile(thirdParty, md, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "licensegate: wrote %s (%d modules)\n", thirdParty, len(rows))
	} else {
		old, err := os.ReadFile(thirdParty)
		if err != nil || string(old) != string(md) {
			errs = append(errs, fmt.Errorf("%s is stale: run scripts/check-licenses.sh -write and commit it", thirdParty))
		}
	}
	return errors.Join(errs...)
}
