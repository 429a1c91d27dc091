package main

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"

	"github.com/clusterset/clusterset/syncer/metrics"
)

// series is one histogram series with buckets at 10 ms and 100 ms.
func series(name string, sum float64, under10ms, under100ms, total uint64) *dto.Metric {
	return &dto.Metric{
		Label: []*dto.LabelPair{{Name: ptr.To("name"), Value: ptr.To(name)}},
		Histogram: &dto.Histogram{SampleSum: ptr.To(sum), SampleCount: ptr.To(total), Bucket: []*dto.Bucket{
			{UpperBound: ptr.To(0.01), CumulativeCount: ptr.To(under10ms)},
			{UpperBound: ptr.To(0.1), CumulativeCount: ptr.To(under100ms)},
			{UpperBound: ptr.To(math.Inf(1)), CumulativeCount: ptr.To(total)},
		}}}
}

func family(ms ...*dto.Metric) *dto.MetricFamily { return &dto.MetricFamily{Metric: ms} }

func TestSyncerShare(t *testing.T) {
	zero := func(name string) *dto.Metric { return series(name, 0, 0, 0, 0) }
	before := []map[string]*dto.MetricFamily{{
		queueMetric: family(zero(metrics.ReconcileQueue), zero("cluster-1")),
		workMetric:  family(zero(metrics.ReconcileQueue), zero("cluster-1")),
		restMetric:  family(zero("")),
	}}
	// 100 reconciles and 100 lane items, 2.2 CPU-seconds. The reconcile queue waits under
	// 10 ms; lanes wait 10-100 ms.
	after := []map[string]*dto.MetricFamily{{
		queueMetric: family(series(metrics.ReconcileQueue, 0.1, 100, 100, 100), series("cluster-1", 5, 0, 100, 100)),
		workMetric:  family(series(metrics.ReconcileQueue, 0.2, 100, 100, 100), series("cluster-1", 3, 0, 100, 100)),
		restMetric:  family(series("", 1, 200, 200, 200)),
	}}
	s := splitOf(before, after, 2.2)
	if got, want := s.cpuPerStep(), 0.022; math.Abs(got-want) > 1e-9 {
		t.Errorf("CPU per step = %v, want %v", got, want)
	}
	// Queue waits at p99: in the first bucket 9.9 ms, in the second 10 + 90·0.99 ms.
	if got, want := s.syncerShare(), 0.0099+0.0991+0.022; math.Abs(got-want) > 1e-9 {
		t.Errorf("syncer share = %v, want %v", got, want)
	}
}

func TestSyncerShareNeedsTheHistograms(t *testing.T) {
	scrape := []map[string]*dto.MetricFamily{{queueMetric: family(series(metrics.ReconcileQueue, 1, 0, 10, 10))}}
	if s := splitOf(scrape, scrape, 1); !math.IsNaN(s.syncerShare()) {
		t.Errorf("syncer share = %v without the lane histograms, want NaN", s.syncerShare())
	}
}
