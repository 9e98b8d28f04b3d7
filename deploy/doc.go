// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package deploy holds Vigil's Kubernetes deployment: the Helm chart in
// helm/vigil and the tests that lint, render and strictly decode it
// (helm_test.go, which needs the pinned Helm from scripts/helm.sh).
package deploy // import "github.com/vigil-otel/vigil/deploy"
