// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

var (
	// NAME_VERSION=value in scripts/versions.sh.
	pinLine = regexp.MustCompile(`(?m)^([A-Z0-9_]+_VERSION)=([^\s#]+)`)
	// A README table row naming a pin or a module: | `NAME_VERSION` | 1.2.3 | or | `module/path` | v1.2.3 |.
	readmeRow = regexp.MustCompile("(?m)^\\|\\s*`([^`]+)`\\s*\\|\\s*([^|\\s]+)\\s*\\|")
	// A cached build the README shows: .cache/vigil/<name>-<version>/.
	cachePath = regexp.MustCompile(`\.cache/vigil/([a-z0-9]+)-([0-9][0-9A-Za-z.+-]*)/`)
)

// checkVersions fails when a version the README documents differs from the
// pin in versions.sh or go.mod, or when a pin in versions.sh is not
// documented in the README.
func checkVersions(out io.Writer, readmePath, versionsPath, goModDir string) error {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	vs, err := os.ReadFile(versionsPath)
	if err != nil {
		return err
	}
	pins := map[string]string{}
	for _, m := range pinLine.FindAllStringSubmatch(string(vs), -1) {
		pins[m[1]] = strings.Trim(m[2], `"'`)
	}
	mods, err := goModVersions(goModDir)
	if err != nil {
		return err
	}

	var errs []error
	documented := map[string]bool{}
	checked := 0
	for _, m := range readmeRow.FindAllStringSubmatch(string(readme), -1) {
		key, doc := m[1], m[2]
		want, isPin := pins[key]
		if !isPin {
			if want, isPin = mods[key]; !isPin {
				if strings.HasSuffix(key, "_VERSION") {
					errs = append(errs, fmt.Errorf("%s documents %s = %s, which %s does not pin", readmePath, key, doc, versionsPath))
				}
				continue
			}
		}
		documented[key] = true
		checked++
		if doc != want {
			errs = append(errs, fmt.Errorf("%s documents %s = %s, but the pin is %s", readmePath, key, doc, want))
		}
	}
	for _, m := range cachePath.FindAllStringSubmatch(string(readme), -1) {
		name, doc := m[1], m[2]
		key := strings.ToUpper(name) + "_VERSION"
		want, ok := pins[key]
		if !ok {
			key = strings.ToUpper(name) + "_MODULE_VERSION"
			want, ok = pins[key]
		}
		checked++
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s shows the cache path %s-%s, but %s pins no %s version", readmePath, name, doc, versionsPath, name))
		case doc != want:
			errs = append(errs, fmt.Errorf("%s shows the cache path %s-%s, but %s is %s", readmePath, name, doc, key, want))
		}
	}
	var undocumented []string
	for k := range pins {
		if !documented[k] {
			undocumented = append(undocumented, k)
		}
	}
	sort.Strings(undocumented)
	for _, k := range undocumented {
		errs = append(errs, fmt.Errorf("%s pins %s = %s, but %s's pinned versions table has no row for it", versionsPath, k, pins[k], readmePath))
	}
	if len(errs) == 0 {
		fmt.Fprintf(out, "licensegate: the %d versions %s documents match the pins\n", checked, readmePath)
	}
	return errors.Join(errs...)
}

// goModVersions returns the required version of every module in dir's go.mod.
func goModVersions(dir string) (map[string]string, error) {
	var gm struct {
		Require []struct{ Path, Version string }
	}
	if err := goJSON(dir, &gm, "mod", "edit", "-json"); err != nil {
		return nil, err
	}
	vs := map[string]string{}
	for _, r := range gm.Require {
		vs[r.Path] = r.Version
	}
	return vs, nil
}
