// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Program chart draws the bench's CPU-seconds per million items, per side,
// as a PNG bar chart: one group of bars per signal and load, each group on
// its own scale (spans, samples and log records cost different amounts),
// the value written beside each bar. Its input is the JSON bench/runner
// writes with -json. Standard library only (image/png and a built-in 5×7
// font), so the chart adds no dependency.
//
// Usage: go run ./bench/chart -in bench/results/X.json -out docs/bench.png
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"slices"
	"strings"
)

type row struct {
	Signal       string  `json:"signal"`
	Load         string  `json:"load"`
	Side         string  `json:"side"`
	CPUPerMItems float64 `json:"cpu_s_per_million_items"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
}

// sideColors are fixed per side so charts of different runs compare.
var sideColors = map[string]color.RGBA{
	"vigil":              {0x1f, 0x77, 0xb4, 0xff},
	"vigil-durable":      {0x17, 0xbe, 0xcf, 0xff},
	"peer":               {0xff, 0x7f, 0x0e, 0xff},
	"peer-durable":       {0xd6, 0x27, 0x28, 0xff},
	"prom-agent":         {0x7f, 0x7f, 0x7f, 0xff},
	"vigil-default":      {0x2c, 0xa0, 0x2c, 0xff},
	"vigil-membatch":     {0x9e, 0xda, 0xe5, 0xff},
	"vigil-durable-base": {0xae, 0xc7, 0xe8, 0xff},
}

const (
	scale    = 2 // font scale
	lineH    = 9 * scale
	barH     = 7 * scale
	labelW   = 20 * 6 * scale // left column: side names
	barMaxW  = 520
	margin   = 16
	groupGap = 12
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run() error {
	in := flag.String("in", "", "JSON written by bench/runner -json; several, comma-separated, are drawn one after the other")
	out := flag.String("out", "bench.png", "PNG to write")
	title := flag.String("title", "CPU-seconds per million items (lower is better)", "chart title")
	flag.Parse()
	var rows []row
	for _, path := range strings.Split(*in, ",") {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var rs []row
		if err := json.Unmarshal(b, &rs); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, rs...)
	}
	type group struct {
		name string
		rows []row
	}
	var groups []group
	for _, r := range rows {
		name := r.Signal + " " + r.Load
		i := slices.IndexFunc(groups, func(g group) bool { return g.name == name })
		if i < 0 {
			groups = append(groups, group{name: name})
			i = len(groups) - 1
		}
		groups[i].rows = append(groups[i].rows, r)
	}
	h := margin*2 + lineH*2
	for _, g := range groups {
		h += lineH + len(g.rows)*(barH+4) + groupGap
	}
	w := max(margin*2+labelW+barMaxW+10*6*scale, margin*2+textWidth(*title, scale))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	black := color.RGBA{0x20, 0x20, 0x20, 0xff}
	grey := color.RGBA{0x70, 0x70, 0x70, 0xff}
	y := margin
	drawText(img, margin, y, *title, black, scale)
	y += lineH * 2
	for _, g := range groups {
		drawText(img, margin, y, g.name, black, scale)
		y += lineH
		var top float64
		for _, r := range g.rows {
			top = max(top, r.CPUPerMItems)
		}
		for _, r := range g.rows {
			drawText(img, margin+6*scale, y, r.Side, grey, scale)
			bw := int(r.CPUPerMItems / max(top, 1e-9) * barMaxW)
			c, ok := sideColors[r.Side]
			if !ok {
				c = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
			}
			x0 := margin + labelW
			draw.Draw(img, image.Rect(x0, y, x0+max(bw, 1), y+barH), image.NewUniform(c), image.Point{}, draw.Src)
			drawText(img, x0+bw+6, y, fmt.Sprintf("%.2f", r.CPUPerMItems), black, scale)
			y += barH + 4
		}
		y += groupGap
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
