// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package configenum

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type color string

func TestSet(t *testing.T) {
	t.Parallel()
	c := color("red")
	require.NoError(t, Set(&c, []byte("blue"), "color", "must be red or blue", "red", "blue"))
	assert.Equal(t, color("blue"), c)

	err := Set(&c, []byte("green"), "color", "must be red or blue", "red", "blue")
	require.EqualError(t, err, `invalid color "green": must be red or blue`)
	assert.Equal(t, color("blue"), c, "a refused value leaves the field alone")

	require.Error(t, Set(&c, nil, "color", "must be red or blue", "red", "blue"), "empty is not a listed value")
}
