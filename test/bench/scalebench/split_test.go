package main

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"
)

// histogram is a one-series family with buckets at 10 ms and 100 ms.
func histogram(sum float64, under10ms, under100ms, total uint64, labels ...string) *dto.MetricFamily {
	m := &dto.Metric{Histogram: &dto.Histogram{SampleSum: ptr.To(sum), SampleCount: ptr.To(total), Bucket: []*dto.Bucket{
		{UpperBound: ptr.To(0.01), CumulativeCount: ptr.To(under10ms)},
		{UpperBound: ptr.To(0.1), CumulativeCount: ptr.To(under100ms)},
		{UpperBound: ptr.To(math.Inf(1)), CumulativeCount: ptr.To(total)},
	}}}
	for i := 0; i+1 < len(labels); i += 2 {
		m.Label = append(m.Label, &dto.LabelPair{Name: ptr.To(labels[i]), Value: ptr.To(labels[i+1])})
	}
	return &dto.MetricFamily{Metric: []*dto.Metric{m}}
}

func TestSyncerShare(t *testing.T) {
	before := []map[string]*dto.MetricFamily{{
		queueMetric: histogram(0, 0, 0, 0),
		workMetric:  histogram(0, 0, 0, 0),
		restMetric:  histogram(0, 0, 0, 0, "verb", "POST"),
	}}
	// 100 reconciles, all under 10 ms in the queue and between 10 and 100 ms of work; 200
	// requests of 1 s in total: 10 ms of apiserver time per reconcile.
	after := []map[string]*dto.MetricFamily{{
		queueMetric: histogram(0.1, 100, 100, 100),
		workMetric:  histogram(3, 0, 100, 100),
		restMetric:  histogram(1, 200, 200, 200, "verb", "POST"),
	}}
	s := splitOf(before, after)
	if got, want := s.apiserverPerReconcile(), 0.01; math.Abs(got-want) > 1e-9 {
		t.Errorf("apiserver per reconcile = %v, want %v", got, want)
	}
	// queue p99 9.9 ms + work p99 (10 + 90·0.99) ms - 10 ms.
	if got, want := s.syncerShare(), 0.0099+0.0991-0.01; math.Abs(got-want) > 1e-9 {
		t.Errorf("syncer share = %v, want %v", got, want)
	}
}

func TestSyncerShareNeedsTheWorkqueueHistograms(t *testing.T) {
	scrape := []map[string]*dto.MetricFamily{{syncMetric: histogram(1, 0, 10, 10)}}
	s := splitOf(scrape, scrape)
	if !math.IsNaN(s.syncerShare()) {
		t.Errorf("syncer share = %v without queue and request histograms, want NaN", s.syncerShare())
	}
	if len(s.work.Bounds) == 0 {
		t.Error("the reconcile histogram did not stand in for the workqueue's work histogram")
	}
}
