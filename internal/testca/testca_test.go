// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package testca

import (
	"crypto/x509"
	"testing"
)

func TestIssuedCertificateVerifiesOnlyWithItsCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, other := New(t, dir, "one"), New(t, dir, "other")
	for _, tt := range []struct {
		name   string
		server bool
		usage  x509.ExtKeyUsage
	}{
		{"server", true, x509.ExtKeyUsageServerAuth},
		{"client", false, x509.ExtKeyUsageClientAuth},
	} {
		t.Run(tt.name, func(t *testing.T) {
			leaf := ca.Issue(t, dir, tt.name, tt.server)
			cert, err := x509.ParseCertificate(leaf.Pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			opts := x509.VerifyOptions{Roots: ca.Pool, DNSName: "localhost", KeyUsages: []x509.ExtKeyUsage{tt.usage}}
			if _, err := cert.Verify(opts); err != nil {
				t.Errorf("verify with its CA: %v", err)
			}
			opts.DNSName = "127.0.0.1"
			if _, err := cert.Verify(opts); err != nil {
				t.Errorf("verify 127.0.0.1 with its CA: %v", err)
			}
			opts.Roots = other.Pool
			if _, err := cert.Verify(opts); err == nil {
				t.Error("verified with another CA")
			}
		})
	}
}
