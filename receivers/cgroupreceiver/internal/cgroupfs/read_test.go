// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package cgroupfs

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReader(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewReader()
	d, err := r.OpenDir(dir)
	require.NoError(t, err)
	defer d.Close()
	assert.Equal(t, dir, d.Path())

	small := []byte("usage_usec 1\nnr_periods 2\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cpu.stat"), small, 0o600))
	got, err := r.Read(d, "cpu.stat")
	require.NoError(t, err)
	assert.Equal(t, small, got)

	exact := bytes.Repeat([]byte("x"), maxFileSize)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "exact"), exact, 0o600))
	got, err = r.Read(d, "exact")
	require.NoError(t, err)
	assert.Equal(t, exact, got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "big"), append(exact, 'y'), 0o600))
	_, err = r.Read(d, "big")
	require.ErrorIs(t, err, ErrMalformed)

	_, err = r.Read(d, "missing")
	require.ErrorIs(t, err, fs.ErrNotExist)

	// A directory opens but cannot be read: an error, not "missing".
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	_, err = r.Read(d, "sub")
	require.Error(t, err)
	assert.NotErrorIs(t, err, fs.ErrNotExist)
	assert.NotErrorIs(t, err, ErrMalformed)

	_, err = r.OpenDir(filepath.Join(dir, "gone"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}
