// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package keepalivetest has a test server that counts connections.
package keepalivetest // import "github.com/vigil-otel/vigil/internal/keepalive/keepalivetest"

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// NewServer starts a server on loopback that reads every request, answers
// 204 and counts the connections clients open; it is closed when the test
// ends.
func NewServer(t testing.TB) (srv *httptest.Server, conns func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
