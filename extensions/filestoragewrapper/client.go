// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package filestoragewrapper // import "github.com/vigil-otel/vigil/extensions/filestoragewrapper"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// Why large values get companion keys: contrib's file_storage is one bbolt
// B+tree per client, and bbolt keeps values inside the leaf pages and
// rewrites a whole leaf whenever any key in it changes. A leaf holds at
// least two keys and is not split below five (bbolt's minKeysPerPage and
// node.split), so a persistent sending queue with a few ~300 KB entries
// keeps them in the same leaf as its metadata key ("qmv0"), which every
// put, read and delete updates: each update copied and rewrote every queued
// entry (issue 17's profile: 25 % of the process's CPU in bbolt's commit at
// 20 requests/s). Three empty keys written right after each large value
// (key + "\x00vigil" + n, which sorts directly after key) make bbolt split
// the tree so that each large value shares its leaf only with its first
// companion: a queue update then rewrites the small leaf it changes, and an
// entry is written once. The values, the keys callers see and the file
// format are unchanged; a file written before this holds no companions and
// needs none; a Vigil without this reads the same file and only keeps the
// companions it does not know.
const (
	// largeValue is the size from which a value gets companions: half of
	// bbolt's 4 KiB page, its split threshold at the default fill percent.
	largeValue = 2048
	companions = 3
	// companionMark follows the key in a companion's name. A key with a NUL
	// byte followed by "vigil" is not one any Vigil component writes.
	companionMark = "\x00vigil"
)

var companionSuffixes = func() [companions]string {
	var s [companions]string
	for i := range s {
		s[i] = companionMark + string(rune('0'+i))
	}
	return s
}()

// layoutClient is a storage.Client that adds the companions.
type layoutClient struct {
	storage.Client
}

// walkerClient is a layoutClient whose inner client walks its keys.
type walkerClient struct {
	layoutClient
	walker storage.Walker
}

func newLayoutClient(c storage.Client) storage.Client {
	if w, ok := c.(storage.Walker); ok {
		return &walkerClient{layoutClient: layoutClient{c}, walker: w}
	}
	return &layoutClient{c}
}

func isCompanion(key string) bool { return strings.Contains(key, companionMark) }

// expand returns ops with, after each Set of a large value, the Sets of its
// companions and, after each Delete, the Deletes of its companions (a key
// without them is fine: deleting a missing key is not an error). The
// caller's Get operations are kept, so their values are filled in place.
func expand(ops []*storage.Operation) []*storage.Operation {
	n := 0
	for _, op := range ops {
		if (op.Type == storage.Set && len(op.Value) >= largeValue) || op.Type == storage.Delete {
			n++
		}
	}
	if n == 0 {
		return ops
	}
	out := make([]*storage.Operation, 0, len(ops)+n*companions)
	for _, op := range ops {
		out = append(out, op)
		switch {
		case op.Type == storage.Set && len(op.Value) >= largeValue:
			for _, s := range companionSuffixes {
				out = append(out, storage.SetOperation(op.Key+s, []byte{}))
			}
		case op.Type == storage.Delete:
			for _, s := range companionSuffixes {
				out = append(out, storage.DeleteOperation(op.Key+s))
			}
		}
	}
	return out
}

func (c *layoutClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *layoutClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *layoutClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	return c.Client.Batch(ctx, expand(ops)...)
}

// Walk walks the keys callers wrote: companions are skipped, and the
// operations fn returns get their companions too.
func (c *walkerClient) Walk(ctx context.Context, fn storage.WalkFunc) error {
	return c.walker.Walk(ctx, func(key string, value []byte) ([]*storage.Operation, error) {
		if isCompanion(key) {
			return nil, nil
		}
		ops, err := fn(key, value)
		return expand(ops), err
	})
}
