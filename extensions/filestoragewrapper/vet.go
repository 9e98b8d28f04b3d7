// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Why this file exists: contrib opens each storage file with bbolt in
// read-write mode and NoFreelistSync, so bbolt.Open rebuilds the free list
// by walking every page in a goroutine of its own. On a damaged file
// (truncated, or overwritten in the middle) that walk fails an assertion or
// faults on a page past the end of the file, in that goroutine, and the
// process dies: no recover in contrib or here can catch it, and the
// collector crash-loops on every start. A file whose header is damaged
// fails bbolt.Open with an error instead, which fails the exporter's start
// and stops the collector all the same. (Measured with bbolt v1.5.0 and
// contrib v0.165.1: vet_test.go keeps the cases.) contrib's `recreate`
// option recovers only panics in the opening goroutine, so it covers
// neither case.
//
// So before contrib opens anything, vetFile reads each file read-only,
// where bbolt walks nothing on its own, in a goroutine that turns faults
// into panics (debug.SetPanicOnFault) and recovers them; then it runs
// bbolt's consistency check, which is the same walk bbolt.Open would do. A
// damaged file is renamed aside (kept for inspection) and every key and
// value that can still be read from it is copied into a fresh file under
// the original name, which contrib then opens.

// corruptSuffix is inserted before the time stamp in the name of a file
// moved aside: <name>.corrupt-<UTC time>.
const corruptSuffix = ".corrupt-"

// componentFile matches the names contrib gives storage files,
// <kind>_<type>_<name>[_<suffix>], or the SHA-256 hex it uses when such a
// name is too long for the file system. Other files in the directory (a
// file moved aside, contrib's compaction temporaries, anything else) are
// left alone.
var componentFile = regexp.MustCompile(`^((receiver|processor|exporter|extension|connector|other)_[A-Za-z0-9._~-]+|[0-9a-f]{64})$`)

// vetResult says what vetFile found and did.
type vetResult struct {
	damage   error  // nil when the file is sound
	movedTo  string // where the damaged file now is
	salvaged int    // entries copied into the fresh file (companion keys not counted)
	lost     bool   // some keys could not be read
}

// vetFile checks the bbolt file at path and, when it is damaged, moves it
// aside and salvages what it can. An error means the file could be neither
// vetted nor moved aside (the caller logs it; contrib's open will then
// report its own error).
func vetFile(path string, timeout time.Duration) (vetResult, error) {
	info, err := os.Stat(path)
	if err != nil {
		return vetResult{}, err
	}
	if info.Size() == 0 {
		// bbolt initialises an empty file; nothing to check.
		return vetResult{}, nil
	}
	damage := check(path, timeout)
	if damage == nil {
		return vetResult{}, nil
	}
	if errors.Is(damage, berrors.ErrTimeout) {
		// Another process holds the file: it is in use, not damaged.
		return vetResult{}, fmt.Errorf("vetting %s: %w", path, damage)
	}
	res := vetResult{damage: damage, movedTo: path + corruptSuffix + time.Now().UTC().Format("20060102T150405.000Z")}
	if err := os.Rename(path, res.movedTo); err != nil {
		return vetResult{}, fmt.Errorf("moving damaged %s aside: %w", path, err)
	}
	res.salvaged, res.lost, err = salvage(res.movedTo, path, timeout)
	if err != nil {
		// The damaged file is aside; contrib starts a fresh one.
		_ = os.Remove(path)
		return res, fmt.Errorf("salvaging %s: %w", res.movedTo, err)
	}
	return res, nil
}

// guarded runs f in its own goroutine with faults turned into panics, and
// returns the recovered panic as an error.
func guarded(f func() error) error {
	done := make(chan error, 1)
	go func() {
		debug.SetPanicOnFault(true)
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("bbolt: %v", r)
			}
		}()
		done <- f()
	}()
	return <-done
}

func openReadOnly(path string, timeout time.Duration) (*bbolt.DB, error) {
	return bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: timeout})
}

// check returns nil when the file opens read-only, every key and value of
// every bucket reads, and bbolt's consistency check finds nothing.
func check(path string, timeout time.Duration) error {
	var db *bbolt.DB
	err := guarded(func() error {
		var err error
		db, err = openReadOnly(path, timeout)
		if err != nil {
			return err
		}
		return db.View(func(tx *bbolt.Tx) error {
			// The walk first: it touches every page in this goroutine,
			// where a bad page is a recovered panic. bbolt's check runs
			// in a goroutine of its own and recovers its assertion
			// failures, but not a fault on a page past the end of the
			// file, which the walk has then already met.
			if err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
				return walk(b, func(_, _ []byte) error { return nil })
			}); err != nil {
				return err
			}
			var errs []error
			for err := range tx.Check() {
				if len(errs) < 3 {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		})
	})
	if db != nil {
		_ = guarded(db.Close)
	}
	return err
}

// walk calls f on every key and value of b and its nested buckets, reading
// each value in full.
func walk(b *bbolt.Bucket, f func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil { // a nested bucket
			if nb := b.Bucket(k); nb != nil {
				if err := walk(nb, f); err != nil {
					return err
				}
			}
			continue
		}
		// bytes.Count reads every byte of the value, overflow pages and all.
		_ = bytes.Count(v, []byte{0})
		if err := f(k, v); err != nil {
			return err
		}
	}
	return nil
}

// salvage copies every key and value that can be read from the top-level
// buckets of the damaged file at from into a new file at to (contrib keeps
// everything in one bucket and nests none): in each bucket the keys before
// its first unreadable page and those after its last one. It reports how
// many keys it copied and whether it stopped early anywhere. It holds at
// most salvageChunk bytes of values in memory at a time.
func salvage(from, to string, timeout time.Duration) (copied int, lost bool, err error) {
	dst, err := bbolt.Open(to, 0o600, &bbolt.Options{Timeout: timeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return 0, true, err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
	}()
	var src *bbolt.DB
	if err := guarded(func() error {
		var err error
		src, err = openReadOnly(from, timeout)
		return err
	}); err != nil {
		return 0, true, nil // the header itself is damaged: nothing to read
	}
	defer func() { _ = guarded(src.Close) }()

	var names [][]byte
	if guarded(func() error {
		return src.View(func(tx *bbolt.Tx) error {
			return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				names = append(names, bytes.Clone(name))
				return nil
			})
		})
	}) != nil {
		lost = true
	}
	for _, name := range names {
		var pending [][2][]byte
		var pendingBytes int
		flush := func() error {
			if err := dst.Update(func(tx *bbolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(name)
				if err != nil {
					return err
				}
				for _, e := range pending {
					if err := b.Put(e[0], e[1]); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return err
			}
			for _, e := range pending {
				// Companion keys (client.go) are layout, not entries.
				if !isCompanion(string(e[0])) {
					copied++
				}
			}
			pending, pendingBytes = pending[:0], 0
			return nil
		}
		var flushErr error
		add := func(k, v []byte) bool {
			pending = append(pending, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
			pendingBytes += len(k) + len(v)
			if pendingBytes >= salvageChunk {
				flushErr = flush()
			}
			return flushErr == nil
		}
		// Forward from the first key to the first unreadable page, then,
		// if there was one, backward from the last key to the last
		// unreadable page: what lies between two damaged pages is lost.
		// walk runs fn on a cursor of the bucket in a read transaction,
		// guarded, so that a fault on a damaged page comes back as an error.
		walk := func(fn func(c *bbolt.Cursor) error) error {
			return guarded(func() error {
				return src.View(func(tx *bbolt.Tx) error {
					if b := tx.Bucket(name); b != nil {
						return fn(b.Cursor())
					}
					return nil
				})
			})
		}
		var lastForward []byte
		readErr := walk(func(c *bbolt.Cursor) error {
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v != nil && !add(k, v) { // v == nil: a nested bucket
					return flushErr
				}
				lastForward = bytes.Clone(k)
			}
			return nil
		})
		if flushErr != nil {
			return copied, true, flushErr
		}
		if readErr != nil {
			lost = true
			_ = walk(func(c *bbolt.Cursor) error {
				for k, v := c.Last(); k != nil; k, v = c.Prev() {
					if lastForward != nil && bytes.Compare(k, lastForward) <= 0 {
						return nil
					}
					if v != nil && !add(k, v) {
						return flushErr
					}
				}
				return nil
			})
			if flushErr != nil {
				return copied, true, flushErr
			}
		}
		if err := flush(); err != nil {
			return copied, true, err
		}
	}
	if lost {
		if err := dst.Update(restoreQueueIndexes); err != nil {
			return copied, lost, err
		}
	}
	return copied, lost, nil
}

// restoreQueueIndexes makes salvaged persistent-queue items reachable
// again when the queue's bookkeeping entry was lost with the damage (it is
// rewritten at every enqueue and read, so its page is the most recently
// written one: a truncation usually takes it). Without it the queue would
// start empty at index 0 and overwrite the salvaged items. When contrib's
// bucket holds queue items (keys that are decimal indexes) but neither the
// queue's metadata key nor its legacy index keys, it writes the legacy
// read and write indexes (8-byte little-endian "ri" and "wi", which
// exporterhelper still reads, v0.165, and migrates) spanning the salvaged
// items; gaps between them are skipped by the queue as missing items.
// Any other content is left as it is.
func restoreQueueIndexes(tx *bbolt.Tx) error {
	b := tx.Bucket([]byte("default"))
	if b == nil {
		return nil
	}
	var lo, hi uint64
	items := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		switch string(k) {
		case "qmv0", "ri", "wi":
			return nil // the bookkeeping survived
		case "di":
			continue
		}
		i, err := strconv.ParseUint(string(k), 10, 64)
		if err != nil {
			return nil // not a persistent queue
		}
		if items == 0 || i < lo {
			lo = i
		}
		if items == 0 || i > hi {
			hi = i
		}
		items++
	}
	if items == 0 {
		return nil
	}
	put := func(key string, v uint64) error {
		return b.Put([]byte(key), binary.LittleEndian.AppendUint64(nil, v))
	}
	if err := put("ri", lo); err != nil {
		return err
	}
	return put("wi", hi+1)
}

// salvageChunk bounds the values salvage holds in memory before writing
// them to the fresh file.
const salvageChunk = 16 << 20

// isComponentFile reports whether name is a storage file contrib would
// open for a component.
func isComponentFile(name string) bool {
	return componentFile.MatchString(name) && !strings.Contains(name, corruptSuffix) && !strings.HasSuffix(name, ".backup")
}

// componentFiles lists the storage files directly in dir.
func componentFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && isComponentFile(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}
