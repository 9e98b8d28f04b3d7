// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// NAB's timestamp layouts: data files, and the label windows.
const (
	dataLayout  = "2006-01-02 15:04:05"
	labelLayout = "2006-01-02 15:04:05.000000"
)

// nabFile is one NAB data file of a development category.
type nabFile struct {
	rel      string // "<category>/<name>.csv", NAB's key
	category string
	ts       []int64  // unix ns (NAB's timestamps are naive; read as UTC)
	tsText   []string // as in the file, written back unchanged
	values   []float64
	valText  []string
	windows  [][2]int64 // labelled anomaly windows, inclusive
}

// inWindow reports whether ts lies in one of the file's windows.
func (f *nabFile) inWindow(ts int64) bool {
	for _, w := range f.windows {
		if ts >= w[0] && ts <= w[1] {
			return true
		}
	}
	return false
}

// loadCorpus reads the data files and label windows of the development
// categories from a NAB checkout, in a stable order.
func loadCorpus(root string) ([]*nabFile, error) {
	raw, err := os.ReadFile(filepath.Join(root, "labels", "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("reading NAB labels (is -nab a NAB checkout?): %w", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, fmt.Errorf("labels/combined_windows.json: %w", err)
	}
	var files []*nabFile
	for _, cat := range categories {
		names, err := filepath.Glob(filepath.Join(root, "data", cat, "*.csv"))
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("no data files in %s", filepath.Join(root, "data", cat))
		}
		slices.Sort(names)
		for _, name := range names {
			rel := cat + "/" + filepath.Base(name)
			wins, ok := labels[rel]
			if !ok {
				return nil, fmt.Errorf("labels/combined_windows.json has no entry for %s", rel)
			}
			f, err := readDataFile(name)
			if err != nil {
				return nil, err
			}
			f.rel, f.category = rel, cat
			for _, w := range wins {
				a, err1 := time.Parse(labelLayout, w[0])
				b, err2 := time.Parse(labelLayout, w[1])
				if err := errors.Join(err1, err2); err != nil {
					return nil, fmt.Errorf("%s: window %v: %w", rel, w, err)
				}
				f.windows = append(f.windows, [2]int64{a.UnixNano(), b.UnixNano()})
			}
			files = append(files, f)
		}
	}
	return files, nil
}

func readDataFile(name string) (*nabFile, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(header) < 2 || header[0] != "timestamp" || header[1] != "value" {
		return nil, fmt.Errorf("%s: header %v: want timestamp,value", name, header)
	}
	f := &nabFile{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		ts, err := time.Parse(dataLayout, rec[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		f.ts = append(f.ts, ts.UnixNano())
		f.tsText = append(f.tsText, rec[0])
		f.values = append(f.values, v)
		f.valText = append(f.valText, rec[1])
	}
	return f, nil
}
