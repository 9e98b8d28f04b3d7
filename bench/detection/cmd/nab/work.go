// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// prepareWork builds the restricted NAB copy in work: NAB's Python code and
// profiles, the data files and labels of the development categories only,
// and the stored results of the null detector (for normalisation) and of
// the reference detectors, for those categories only. Everything is copied
// (os.walk in NAB's corpus reader does not follow symlinked directories,
// and the scorer writes into the result files).
func prepareWork(root, work string, files []*nabFile, refs []string) error {
	if err := copyFile(filepath.Join(root, "run.py"), filepath.Join(work, "run.py")); err != nil {
		return err
	}
	err := filepath.WalkDir(filepath.Join(root, "nab"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".py") {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		return copyFile(path, filepath.Join(work, rel))
	})
	if err != nil {
		return fmt.Errorf("copying NAB's code: %w", err)
	}
	// Only the standard profile: NAB optimises every profile of the file in
	// turn, and the others would triple the scorer's time for figures
	// nobody reads here.
	var profiles map[string]json.RawMessage
	if raw, err := os.ReadFile(filepath.Join(root, "config", "profiles.json")); err != nil {
		return err
	} else if err := json.Unmarshal(raw, &profiles); err != nil {
		return fmt.Errorf("config/profiles.json: %w", err)
	}
	std, ok := profiles["standard"]
	if !ok {
		return errors.New("config/profiles.json has no standard profile")
	}
	if err := writeFile(filepath.Join(work, "config", "profiles.json"), []byte(`{"standard": `+string(std)+"}\n")); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(root, "labels", "combined_windows.json"))
	if err != nil {
		return err
	}
	var labels map[string]json.RawMessage
	if err := json.Unmarshal(raw, &labels); err != nil {
		return err
	}
	kept := map[string]json.RawMessage{}
	for _, f := range files {
		kept[f.rel] = labels[f.rel]
		if err := copyFile(filepath.Join(root, "data", f.rel), filepath.Join(work, "data", f.rel)); err != nil {
			return err
		}
		for _, det := range append([]string{"null"}, refs...) {
			dir, name := filepath.Split(f.rel)
			rel := filepath.Join("results", det, dir, det+"_"+name)
			if err := copyFile(filepath.Join(root, rel), filepath.Join(work, rel)); err != nil {
				return fmt.Errorf("stored results of NAB detector %q: %w", det, err)
			}
		}
	}
	out, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(work, "labels", "combined_windows.json"), out)
}

// writeResults writes the NAB result files of vigil and plainEWMA.
func writeResults(work string, files []*nabFile, runs []*fileRun) error {
	for i, f := range files {
		for det, scores := range map[string][]float64{detVigil: runs[i].vigil, detPlain: runs[i].plain} {
			var b bytes.Buffer
			b.WriteString("timestamp,value,anomaly_score,label\n")
			for j := range f.ts {
				label := 0
				if f.inWindow(f.ts[j]) {
					label = 1
				}
				fmt.Fprintf(&b, "%s,%s,%s,%d\n", f.tsText[j], f.valText[j], strconv.FormatFloat(scores[j], 'g', -1, 64), label)
			}
			dir, name := filepath.Split(f.rel)
			if err := writeFile(filepath.Join(work, "results", det, dir, det+"_"+name), b.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

var finalScoreRE = regexp.MustCompile(`Final score for '([^']+)' detector on 'standard' profile = (-?[0-9.]+)`)

// runNAB runs NAB's optimiser, scorer and normaliser in work and returns the
// overall standard-profile score of each detector as NAB prints it. The
// detectors in fixed are then scored again at the given threshold instead
// of the optimised one (NAB's --score with an edited thresholds file).
func runNAB(ctx context.Context, python, work string, detectors []string, fixed map[string]float64, verbose bool) (map[string]float64, error) {
	scores, err := runNABOnce(ctx, python, work, detectors, []string{"--optimize", "--score", "--normalize"}, verbose)
	if err != nil || len(fixed) == 0 {
		return scores, err
	}
	path := filepath.Join(work, "config", "thresholds.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var th map[string]map[string]map[string]float64
	if err := json.Unmarshal(raw, &th); err != nil {
		return nil, fmt.Errorf("config/thresholds.json: %w", err)
	}
	again := []string{"null"}
	for d, v := range fixed {
		if th[d] == nil || th[d]["standard"] == nil {
			return nil, fmt.Errorf("config/thresholds.json: no standard threshold for %q", d)
		}
		th[d]["standard"]["threshold"] = v
		again = append(again, d)
	}
	if raw, err = json.MarshalIndent(th, "", "  "); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return nil, err
	}
	fixedScores, err := runNABOnce(ctx, python, work, again, []string{"--score", "--normalize"}, verbose)
	if err != nil {
		return nil, err
	}
	for d := range fixed {
		scores[d] = fixedScores[d]
	}
	return scores, nil
}

func runNABOnce(ctx context.Context, python, work string, detectors, steps []string, verbose bool) (map[string]float64, error) {
	args := append([]string{"run.py", "-d", strings.Join(detectors, ",")}, steps...)
	cmd := exec.CommandContext(ctx, python, append(args, "--skipConfirmation", "-n", "2")...)
	cmd.Dir = work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if verbose || err != nil {
		os.Stderr.Write(out.Bytes())
	}
	if err != nil {
		return nil, fmt.Errorf("NAB's run.py (%s): %w", python, err)
	}
	scores := map[string]float64{}
	for _, m := range finalScoreRE.FindAllStringSubmatch(out.String(), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, err
		}
		scores[m[1]] = v
	}
	for _, d := range detectors[1:] {
		if _, ok := scores[d]; !ok {
			os.Stderr.Write(out.Bytes())
			return nil, fmt.Errorf("NAB printed no standard-profile score for %q", d)
		}
	}
	return scores, nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writeFile(to, b)
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
