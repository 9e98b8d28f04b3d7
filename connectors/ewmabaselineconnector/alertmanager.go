// Copyright The Vigil Authors
// SPDX-License-Identifier: Apache-2.0

package ewmabaselineconnector // import "github.com/vigil-otel/vigil/connectors/ewmabaselineconnector"

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/vigil-otel/vigil/connectors/ewmabaselineconnector/internal/metadata"
)

// Alertmanager v2 client. Alertmanager has no Go client in our dependency
// set that is worth its weight (the generated OpenAPI client pulls go-openapi);
// the API is one JSON POST, so we write it here on a confighttp client.
//
// Delivery is best effort by design: a firing alert is re-sent every
// resend_interval anyway (Alertmanager expects that, and expires an alert at
// its endsAt otherwise), so a failed POST is counted and not retried. A lost
// "resolved" is healed by endsAt = last send + 4·resend_interval.

const (
	amPath        = "/api/v2/alerts"
	amMaxBatch    = 64
	amMaxRespRead = 64 << 10
	// amEndsAtFactor: a firing alert's endsAt is this many resend intervals
	// ahead, so up to three lost re-sends do not resolve it early.
	amEndsAtFactor = 4
)

// amAlert is Alertmanager's postableAlert.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// alertInfo is kept for firing series only, to re-send them.
type alertInfo struct {
	labels      map[string]string
	annotations map[string]string
	startsAt    time.Time
	lastSent    time.Time
}

type amClient struct {
	cfg    *AlertmanagerConfig
	client *http.Client
	url    string
	queue  chan amAlert
	tb     *metadata.TelemetryBuilder
	logger *zap.Logger
	stopCh chan struct{}
	wg     sync.WaitGroup

	dropFull, dropFailed metric.AddOption
}

func newAMClient(ctx context.Context, cfg *AlertmanagerConfig, host component.Host, set component.TelemetrySettings, tb *metadata.TelemetryBuilder) (*amClient, error) {
	hc, err := cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return nil, fmt.Errorf("alertmanager: building HTTP client: %w", err)
	}
	return &amClient{
		cfg:        cfg,
		client:     hc,
		url:        strings.TrimSuffix(cfg.ClientConfig.Endpoint, "/") + amPath,
		queue:      make(chan amAlert, cfg.QueueSize),
		tb:         tb,
		logger:     set.Logger,
		stopCh:     make(chan struct{}),
		dropFull:   metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "queue_full"))),
		dropFailed: metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "send_failed"))),
	}, nil
}

// enqueue never blocks: a full queue drops and counts.
func (c *amClient) enqueue(a amAlert) {
	select {
	case c.queue <- a:
	default:
		c.tb.ConnectorEwmaBaselineAlertmanagerDroppedAlerts.Add(context.Background(), 1, c.dropFull)
	}
}

func (c *amClient) start() {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case a := <-c.queue:
				c.send(context.Background(), c.collect(a))
			case <-c.stopCh:
				return
			}
		}
	}()
}

// shutdown stops the loop, then sends what is queued within ctx.
func (c *amClient) shutdown(ctx context.Context) {
	close(c.stopCh)
	c.wg.Wait()
	for {
		select {
		case a := <-c.queue:
			c.send(ctx, c.collect(a))
		default:
			c.client.CloseIdleConnections()
			return
		}
	}
}

func (c *amClient) collect(first amAlert) []amAlert {
	batch := []amAlert{first}
	for len(batch) < amMaxBatch {
		select {
		case a := <-c.queue:
			batch = append(batch, a)
		default:
			return batch
		}
	}
	return batch
}

func (c *amClient) send(ctx context.Context, alerts []amAlert) {
	n := int64(len(alerts))
	body, err := json.Marshal(alerts)
	if err == nil {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			resp, err = c.client.Do(req)
			if err == nil {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, amMaxRespRead))
				_ = resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					err = fmt.Errorf("alertmanager answered %s: %s", resp.Status, bytes.TrimSpace(msg))
				}
			}
		}
	}
	if err != nil {
		c.tb.ConnectorEwmaBaselineAlertmanagerDroppedAlerts.Add(context.Background(), n, c.dropFailed)
		// One line per failed POST (not per data point); POSTs are rare.
		c.logger.Warn("ewma_baseline: posting alerts to Alertmanager failed", zap.Int64("alerts", n), zap.Error(err))
		return
	}
	c.tb.ConnectorEwmaBaselineAlertmanagerSentAlerts.Add(context.Background(), n)
}

var labelNamer = otlptranslator.LabelNamer{}

// alertLabels builds the Alertmanager label set of a series: its resource
// and point attributes (or the rule's identifying ones), normalized to
// Prometheus label names, plus alertname, metric, rule and severity.
func alertLabels(r *compiledRule, metricName string, res pcommon.Resource, attrs pcommon.Map) map[string]string {
	labels := map[string]string{}
	put := func(k string, v pcommon.Value) {
		if name, err := labelNamer.Build(k); err == nil {
			labels[name] = v.AsString()
		}
	}
	if len(r.cfg.Attributes) == 0 {
		for k, v := range res.Attributes().All() {
			put(k, v)
		}
		for k, v := range attrs.All() {
			put(k, v)
		}
	} else {
		for _, k := range r.cfg.Attributes {
			if v, ok := attrs.Get(k); ok {
				put(k, v)
			} else if v, ok := res.Attributes().Get(k); ok {
				put(k, v)
			}
		}
	}
	labels["alertname"] = r.cfg.Name
	labels["metric"] = metricName
	labels["severity"] = r.cfg.Severity
	return labels
}

// alertmanagerNotify queues firing and resolved transitions. Called under e.mu.
func (e *engine) alertmanagerNotify(b *batch, r *compiledRule, m pmetric.Metric, s *series, pt *point, x float64, res result, upper, lower float64) {
	if e.am == nil || (res.trans != transFiring && res.trans != transResolved) {
		return
	}
	now := time.Unix(0, b.now)
	name := m.Name() + r.suffix
	ann := map[string]string{
		"summary":  fmt.Sprintf("%s is outside its baseline band (score %.2f > k %.2f)", name, res.score, r.p.k),
		"value":    fmtFloat(x),
		"baseline": fmtFloat(res.baseline),
		"lower":    fmtFloat(lower),
		"upper":    fmtFloat(upper),
		"score":    fmtFloat(res.score),
	}
	switch res.trans {
	case transFiring:
		info := &alertInfo{labels: alertLabels(r, name, b.res, pt.attrs), annotations: ann, startsAt: time.Unix(0, pt.ts), lastSent: now}
		e.alerts[s.key] = info
		e.am.enqueue(amAlert{Labels: info.labels, Annotations: ann, StartsAt: info.startsAt,
			EndsAt: now.Add(amEndsAtFactor * e.am.cfg.ResendInterval)})
	case transResolved:
		startsAt := time.Unix(0, s.since)
		if info, ok := e.alerts[s.key]; ok {
			startsAt = info.startsAt
			ann = info.annotations
			delete(e.alerts, s.key)
		}
		// endsAt is the wall clock, not the data time: Alertmanager compares
		// it with its own clock, and "now" always means resolved.
		e.am.enqueue(amAlert{Labels: alertLabels(r, name, b.res, pt.attrs), Annotations: ann, StartsAt: startsAt, EndsAt: now})
	}
}

// resendFiring re-queues firing alerts whose last send is resend_interval old.
func (e *engine) resendFiring() {
	if e.am == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, info := range e.alerts {
		if now.Sub(info.lastSent) >= e.am.cfg.ResendInterval {
			info.lastSent = now
			e.am.enqueue(amAlert{Labels: info.labels, Annotations: info.annotations, StartsAt: info.startsAt,
				EndsAt: now.Add(amEndsAtFactor * e.am.cfg.ResendInterval)})
		}
	}
}
