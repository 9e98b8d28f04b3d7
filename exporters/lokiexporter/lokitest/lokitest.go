// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

// Package lokitest helps tests stand in for Loki's push API.
package lokitest // import "github.com/vigil-otel/vigil/exporters/lokiexporter/lokitest"

import (
	"io"
	"net/http"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
)

// ReadPush decodes the body of a push request as Loki's distributor does
// (snappy-compressed protobuf). On a body that is not, it answers 400 with
// the error and returns false.
func ReadPush(w http.ResponseWriter, r *http.Request) (push.PushRequest, bool) {
	var req push.PushRequest
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return push.PushRequest{}, false
	}
	return req, true
}
