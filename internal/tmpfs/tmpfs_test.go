// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package tmpfs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMountIsSmall: the file system fills up at its size, with ENOSPC.
func TestMountIsSmall(t *testing.T) {
	dir := Mount(t, 1<<20)
	f, err := os.Create(filepath.Join(dir, "fill"))
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 64<<10)
	written := 0
	for written <= 2<<20 {
		n, err := f.Write(buf)
		written += n
		if err != nil {
			require.ErrorIs(t, err, syscall.ENOSPC)
			break
		}
	}
	assert.LessOrEqual(t, written, 1<<20, "no more than the tmpfs' size fits")
}
