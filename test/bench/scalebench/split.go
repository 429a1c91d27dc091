package main

import (
	"math"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/test/bench/syncload"
)

// The syncers' histograms that split an export's latency.
const (
	queueMetric = metrics.Namespace + "_workqueue_queue_duration_seconds"
	workMetric  = metrics.Namespace + "_workqueue_work_duration_seconds"
	restMetric  = metrics.Namespace + "_rest_client_request_duration_seconds"
	syncMetric  = metrics.Namespace + "_sync_duration_seconds"
)

// split is what every syncer observed, summed, between two scrapes: the time keys waited in
// the queue, the reconciles (work) and the apiserver requests (watches excepted). A
// histogram a syncer does not serve has Count 0 and no bounds.
type split struct {
	queue, work, apiserver syncload.Histogram
}

// splitOf is the observations between the scrapes before and after (one per syncer). When
// the syncers serve no workqueue work histogram, their reconcile histogram stands in.
func splitOf(before, after []map[string]*dto.MetricFamily) split {
	notWatch := func(labels map[string]string) bool { return !strings.EqualFold(labels["verb"], "WATCH") }
	delta := func(name string, match func(map[string]string) bool) syncload.Histogram {
		h1, ok := syncload.SumHistograms(after, name, match)
		if !ok {
			return syncload.Histogram{}
		}
		h0, _ := syncload.SumHistograms(before, name, match)
		d, _ := h1.Minus(h0)
		return d
	}
	s := split{queue: delta(queueMetric, nil), work: delta(workMetric, nil), apiserver: delta(restMetric, notWatch)}
	if len(s.work.Bounds) == 0 {
		s.work = delta(syncMetric, nil)
	}
	return s
}

// apiserverPerReconcile is the mean apiserver time a reconcile spent in requests: every
// syncer's request seconds over its reconciles. NaN without both histograms.
func (s split) apiserverPerReconcile() float64 {
	if len(s.apiserver.Bounds) == 0 || s.work.Count == 0 {
		return math.NaN()
	}
	return s.apiserver.Sum / float64(s.work.Count)
}

// syncerShare is the syncer's own part of an export's p99 latency, in seconds: the p99 of
// the queue wait plus the p99 of a reconcile, less the mean apiserver time per reconcile (an
// export's import needs its reconcile in each cluster, after a wait in that cluster's queue;
// the apiserver's part of that reconcile is not the syncer's). NaN without the histograms.
func (s split) syncerShare() float64 {
	return s.queue.Quantile(0.99) + s.work.Quantile(0.99) - s.apiserverPerReconcile()
}
