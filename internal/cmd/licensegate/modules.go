// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
)

// vigil is the target name of the project's own binary and tools.
const vigil = "vigil"

// target is a program the project's scripts build from the module proxy.
type target struct {
	name, module, version string
	pkgs                  []string
	tags                  string
	// staging, when set, is the version that replaces each module the
	// target's go.mod replaces with a directory of its own repository
	// (Kubernetes' ./staging/src/k8s.io/<name>, published as v0.<minor>.<patch>),
	// as scripts/k8s.sh builds it; without it such replacements are dropped.
	staging string
}

// readTargets reads lines of "name module version pkg[,pkg...] [tags]
// [staging=VERSION]"; blank lines and # comments are skipped.
func readTargets(path string) ([]target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ts []target
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 4 || len(fs) > 6 {
			return nil, fmt.Errorf("%s:%d: want name module version packages [tags] [staging=VERSION], got %q", path, n, line)
		}
		t := target{name: fs[0], module: fs[1], version: fs[2], pkgs: strings.Split(fs[3], ",")}
		for _, f := range fs[4:] {
			if v, ok := strings.CutPrefix(f, "staging="); ok {
				t.staging = v
			} else if t.tags == "" {
				t.tags = f
			} else {
				return nil, fmt.Errorf("%s:%d: two build tag lists in %q", path, n, line)
			}
		}
		ts = append(ts, t)
	}
	return ts, sc.Err()
}

// modVer is one module version.
type modVer struct{ path, version string }

// collectModules returns, for every module version linked into vigil or a
// target, the names of the programs that link it.
func collectModules(targets []target) (map[modVer][]string, error) {
	uses := map[modVer][]string{}
	add := func(name string, ms []modVer) {
		for _, m := range ms {
			if !contains(uses[m], name) {
				uses[m] = append(uses[m], name)
			}
		}
	}

	// vigil: what ./cmd/gateway and the go.mod tools link, and every direct
	// requirement (a module required on purpose is checked before any code
	// imports it).
	tools, err := goModTools(".")
	if err != nil {
		return nil, err
	}
	ms, err := listDeps(".", "", "", append([]string{"./cmd/gateway"}, tools...))
	if err != nil {
		return nil, err
	}
	add(vigil, ms)
	direct, err := directRequirements(".")
	if err != nil {
		return nil, err
	}
	add(vigil, direct)

	for _, t := range targets {
		ms, err := targetDeps(t)
		if err != nil {
			return nil, fmt.Errorf("%s (%s@%s): %w", t.name, t.module, t.version, err)
		}
		add(t.name, append(ms, modVer{t.module, t.version}))
	}
	for m := range uses {
		sort.Strings(uses[m])
	}
	return uses, nil
}

// targetDeps lists the modules t's packages link, resolving them with t's own
// go.mod as `go install pkg@version` would. Replace directives that point
// into the module's repository (which the module zip lacks) are dropped, as
// scripts/lib.sh build_from_module does, or, with t.staging, pointed at that
// published version of the same module, as scripts/k8s.sh does.
func targetDeps(t target) ([]modVer, error) {
	dir, err := moduleDirs([]modVer{{t.module, t.version}})
	if err != nil {
		return nil, err
	}
	src := dir[modVer{t.module, t.version}]
	tmp, err := os.MkdirTemp("", "licensegate-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	modfile := filepath.Join(tmp, "go.mod")
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) && name == "go.sum" {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	var gm struct {
		Replace []struct {
			Old struct{ Path string }
			New struct{ Path, Version string }
		}
	}
	if err := goJSON(src, &gm, "mod", "edit", "-json", modfile); err != nil {
		return nil, err
	}
	var drops []string
	for _, r := range gm.Replace {
		if r.New.Version == "" && (strings.HasPrefix(r.New.Path, "./") || strings.HasPrefix(r.New.Path, "../")) {
			if t.staging != "" {
				drops = append(drops, "-replace="+r.Old.Path+"="+r.Old.Path+"@"+t.staging)
			} else {
				drops = append(drops, "-dropreplace="+r.Old.Path)
			}
		}
	}
	if len(drops) > 0 {
		if _, err := goCmd(src, append(append([]string{"mod", "edit"}, drops...), modfile)...); err != nil {
			return nil, err
		}
	}
	return listDeps(src, modfile, t.tags, t.pkgs)
}

// listDeps runs go list -deps in dir (with modfile, if set) and returns the
// modules of the listed packages, without the main module and the standard
// library. A replaced module is reported as its replacement.
func listDeps(dir, modfile, tags string, pkgs []string) ([]modVer, error) {
	args := []string{"list", "-deps", "-f", `{{with .Module}}{{if not .Main}}{{with .Replace}}{{.Path}} {{.Version}}{{else}}{{.Path}} {{.Version}}{{end}}{{end}}{{end}}`}
	if modfile != "" {
		args = append(args, "-modfile="+modfile, "-mod=mod")
	}
	if tags != "" {
		args = append(args, "-tags="+tags)
	}
	out, err := goCmd(dir, append(args, pkgs...)...)
	if err != nil {
		return nil, err
	}
	seen := map[modVer]bool{}
	var ms []modVer
	for _, line := range strings.Split(string(out), "\n") {
		fs := strings.Fields(line)
		if len(fs) != 2 { // a local replacement has no version
			continue
		}
		m := modVer{fs[0], fs[1]}
		if !seen[m] {
			seen[m] = true
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// goModTools returns the tool packages of dir's go.mod.
func goModTools(dir string) ([]string, error) {
	var gm struct{ Tool []struct{ Path string } }
	if err := goJSON(dir, &gm, "mod", "edit", "-json"); err != nil {
		return nil, err
	}
	var ps []string
	for _, t := range gm.Tool {
		ps = append(ps, t.Path)
	}
	return ps, nil
}

// directRequirements returns the requirements of dir's go.mod not marked
// // indirect.
func directRequirements(dir string) ([]modVer, error) {
	var gm struct {
		Require []struct {
			Path, Version string
			Indirect      bool
		}
	}
	if err := goJSON(dir, &gm, "mod", "edit", "-json"); err != nil {
		return nil, err
	}
	var ms []modVer
	for _, r := range gm.Require {
		if !r.Indirect {
			ms = append(ms, modVer{r.Path, r.Version})
		}
	}
	return ms, nil
}

// moduleDirs returns the module cache directory of each module version,
// downloading the ones not there yet (one go mod download for all of them).
func moduleDirs(ms []modVer) (map[modVer]string, error) {
	args := []string{"mod", "download", "-json"}
	for _, m := range ms {
		args = append(args, m.path+"@"+m.version)
	}
	tmp, err := os.MkdirTemp("", "licensegate-dl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	// Outside any module, so that vigil's go.mod plays no part.
	out, err := goCmd(tmp, args...)
	if err != nil && len(out) == 0 {
		return nil, err
	}
	dirs := map[modVer]string{}
	var errs []error
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var d struct{ Path, Version, Dir, Error string }
		if err := dec.Decode(&d); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if d.Error != "" {
			errs = append(errs, errors.New(d.Error))
			continue
		}
		dirs[modVer{d.Path, d.Version}] = d.Dir
	}
	return dirs, errors.Join(errs...)
}

// licenceFile matches the names of licence files at a module's root.
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|unlicense)([-_.].*)?$`)

// moduleLicences classifies the licence files at the root of dir. It returns
// the licence identifiers and the files read; no file gives no identifiers.
func moduleLicences(dir string) ([]string, []string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	ids := map[string]bool{}
	var files []string
	for _, e := range ents {
		if e.IsDir() || !licenceFile.MatchString(e.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, nil, err
		}
		files = append(files, e.Name())
		for _, id := range classify(string(b)) {
			ids[id] = true
		}
	}
	if len(ids) > 1 {
		delete(ids, unknown) // e.g. a NOTICE-like LICENSE.md beside the licence text
	}
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out, files, nil
}

// review is a person's decision on a module whose licence the classifier
// cannot settle.
type review struct{ licence, reason string }

// readReviewed reads lines of "module-path<TAB>licence<TAB>reason".
func readReviewed(path string) (map[string]review, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rev := map[string]review{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 3 || fs[2] == "" {
			return nil, fmt.Errorf("%s:%d: want module<TAB>licence<TAB>reason", path, n)
		}
		if forbidden[fs[1]] {
			return nil, fmt.Errorf("%s:%d: %s cannot be allowed by review", path, n, fs[1])
		}
		rev[fs[0]] = review{fs[1], fs[2]}
	}
	return rev, sc.Err()
}

// row is one line of the licence table.
type row struct {
	modVer
	licence string // identifiers joined with " AND ", or the reviewed licence
	usedBy  []string
	verdict verdict
	note    string
}

func licenceRows(uses map[modVer][]string, rev map[string]review) ([]row, error) {
	ms := make([]modVer, 0, len(uses))
	for m := range uses {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].path != ms[j].path {
			return ms[i].path < ms[j].path
		}
		return ms[i].version < ms[j].version
	})
	dirs, err := moduleDirs(ms)
	if err != nil {
		return nil, err
	}
	rows := make([]row, 0, len(ms))
	for _, m := range ms {
		ids, files, err := moduleLicences(dirs[m])
		if err != nil {
			return nil, fmt.Errorf("%s@%s: %w", m.path, m.version, err)
		}
		r := row{modVer: m, licence: strings.Join(ids, " AND "), usedBy: uses[m], verdict: judge(ids)}
		if len(files) == 0 {
			r.licence, r.note = "none", "no licence file at the module root"
		}
		if v, ok := rev[m.path]; ok && r.verdict != verdictOK {
			r.note = fmt.Sprintf("reviewed (found %s): %s", r.licence, v.reason)
			r.licence, r.verdict = v.licence, verdictOK
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func printTable(out io.Writer, rows []row) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tVERSION\tLICENCE\tUSED BY\tVERDICT\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.path, r.version, r.licence, strings.Join(r.usedBy, ","), r.verdict, r.note)
	}
	tw.Flush()
}

// verdicts prints a summary and returns an error naming every module that
// fails the gate.
func verdicts(out io.Writer, rows []row, rev map[string]review) error {
	var bad []string
	count := map[string]int{}
	for _, r := range rows {
		count[r.licence]++
		if r.verdict != verdictOK {
			bad = append(bad, fmt.Sprintf("%s %s@%s (%s; used by %s)", r.verdict, r.path, r.version, r.licence, strings.Join(r.usedBy, ",")))
		}
	}
	ls := make([]string, 0, len(count))
	for l, n := range count {
		ls = append(ls, fmt.Sprintf("%s: %d", l, n))
	}
	sort.Strings(ls)
	fmt.Fprintf(out, "licensegate: %d module versions; %s\n", len(rows), strings.Join(ls, ", "))
	used := map[string]bool{}
	for _, r := range rows {
		used[r.path] = true
	}
	for p := range rev {
		if !used[p] {
			fmt.Fprintf(out, "licensegate: note: reviewed module %s is no longer used; remove it from the reviewed list\n", p)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d modules fail the licence gate (AGPL, GPL and SSPL are forbidden; any other licence outside %s needs a reviewed entry):\n  %s",
			len(bad), allowedList(), strings.Join(bad, "\n  "))
	}
	return nil
}

func allowedList() string {
	ls := make([]string, 0, len(allowed))
	for l := range allowed {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return strings.Join(ls, ", ")
}

func thirdPartyMarkdown(rows []row) []byte {
	var b bytes.Buffer
	b.WriteString("<!-- Generated by scripts/check-licenses.sh -write (internal/cmd/licensegate). DO NOT EDIT. -->\n")
	b.WriteString("# Third-party modules\n\n")
	b.WriteString("Every Go module linked into `vigil` (and its go.mod tools), or into a program the project's scripts\n")
	b.WriteString("build (the list in `scripts/check-licenses.sh`), with the licence read from the licence files at the module's root.\n")
	b.WriteString("`scripts/check.sh` fails if this file is stale or a licence is AGPL, GPL, SSPL or unreviewed.\n\n")
	b.WriteString("| module | version | licence | used by |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.path, r.version, r.licence, strings.Join(r.usedBy, ", "))
	}
	return b.Bytes()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// goCmd runs the go command in dir and returns its standard output; the
// error carries its standard error.
func goCmd(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

func goJSON(dir string, v any, args ...string) error {
	out, err := goCmd(dir, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}
