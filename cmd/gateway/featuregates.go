// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"fmt"

	"go.opentelemetry.io/collector/featuregate"
)

// defaultFeatureGates are feature gates that vigil turns on before the
// command line is read, so --feature-gates=-<id> still turns each one off.
var defaultFeatureGates = []string{
	// The filelog receiver (pod logs) hands entries to the pipeline from a
	// batching goroutine by default, while its file offsets are checkpointed
	// at the end of each poll: a kill -9 between the two loses the entries
	// that were read but not yet handed over. Synchronous emission hands
	// each batch to the pipeline (the exporter's persistent queue) before
	// the offset moves past it, so a crash can at worst re-read the last
	// poll's lines, never lose them.
	"stanza.synchronousLogEmitter",
	// k8s_attributes (contrib v1.2.0) builds one processor, with its own pod
	// watch and pod cache, per pipeline that lists it: the chart's agent has
	// up to five such pipelines (traces, metrics, metrics/kernel, logs,
	// logs/pods), so every pod event crossed the wire and was cached once
	// per pipeline. With this gate the
	// pipelines share one instance per k8s_attributes configuration
	// (component ID). The instance keeps no per-pipeline state; it is
	// started by the first pipeline that starts and stopped by the first
	// that stops, after the receivers, and a stopped instance still
	// annotates from its last cache what connectors flush at shutdown.
	// Alpha upstream; measured in TestK8sPodChurn (issue 16).
	"processor.k8sattributes.ShareProcessorBetweenPipelines",
}

// setFeatureGateDefaults turns defaultFeatureGates on.
func setFeatureGateDefaults(reg *featuregate.Registry) error {
	for _, id := range defaultFeatureGates {
		if err := reg.Set(id, true); err != nil {
			return fmt.Errorf("feature gate %q: %w", id, err)
		}
	}
	return nil
}
