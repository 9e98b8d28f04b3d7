// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Command gen writes Vigil's dashboards as JSON into the current directory
// (run by `go generate ./dashboards/`).
package main

import (
	"fmt"
	"os"

	"github.com/vigil-otel/vigil/dashboards"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	for name, d := range dashboards.All() {
		b, err := dashboards.Marshal(d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
