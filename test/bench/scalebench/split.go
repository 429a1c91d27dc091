package main

import (
	"math"

	dto "github.com/prometheus/client_model/go"

	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/test/bench/syncload"
)

// The syncers' histograms that split an export's latency.
const (
	queueMetric       = metrics.Namespace + "_workqueue_queue_duration_seconds"
	workMetric        = metrics.Namespace + "_workqueue_work_duration_seconds"
	restMetric        = metrics.Namespace + "_rest_client_request_duration_seconds"
	rateLimiterMetric = metrics.Namespace + "_rest_client_rate_limiter_duration_seconds"
)

// split is what every syncer observed, summed, between two scrapes. An export reaches a
// target's ServiceImport through two queues of that target's syncer: the reconcile queue
// (the desired state is computed from the caches, and the syncer writes the status of its own
// cluster's exports) and then the target's lane (the derived Service, the ServiceImport and
// the slices are written). A histogram the syncers do not serve is empty (NaN quantiles).
type split struct {
	reconcileWait, reconcile, laneWait, laneWork syncload.Histogram
	// apiserver times the requests (watches are not timed); rateLimiter the client-side
	// waits before them, which are the syncer's own.
	apiserver, rateLimiter syncload.Histogram
	// cpuSeconds is the CPU time of every syncer over the same interval.
	cpuSeconds float64
}

// splitOf is the observations between the scrapes before and after (one per syncer), during
// which the syncers used cpuSeconds.
func splitOf(before, after []map[string]*dto.MetricFamily, cpuSeconds float64) split {
	delta := func(name string, match func(map[string]string) bool) syncload.Histogram {
		h1, ok := syncload.SumHistograms(after, name, match)
		if !ok {
			return syncload.Histogram{}
		}
		h0, _ := syncload.SumHistograms(before, name, match)
		d, _ := h1.Minus(h0)
		return d
	}
	reconcileQueue := func(l map[string]string) bool { return l["name"] == metrics.ReconcileQueue }
	lane := func(l map[string]string) bool { return l["name"] != metrics.ReconcileQueue }
	return split{
		reconcileWait: delta(queueMetric, reconcileQueue),
		reconcile:     delta(workMetric, reconcileQueue),
		laneWait:      delta(queueMetric, lane),
		laneWork:      delta(workMetric, lane),
		apiserver:     delta(restMetric, nil),
		rateLimiter:   delta(rateLimiterMetric, nil),
		cpuSeconds:    cpuSeconds,
	}
}

// cpuPerStep is the syncers' CPU time per reconcile-and-lane step, mean: every syncer's CPU
// seconds during the phase over the lane items (each follows a reconcile). It is the
// syncer's own processing, watch decoding and no-op reconciles included; waiting for the
// apiserver takes none. (Reconcile time less request time cannot stand in: a lane writes the
// ServiceImport and the slices concurrently, so its requests overlap.) NaN without lane items.
func (s split) cpuPerStep() float64 {
	if s.laneWork.Count == 0 {
		return math.NaN()
	}
	return s.cpuSeconds / float64(s.laneWork.Count)
}

// syncerShare is the syncer's part of an export's p99 latency, in seconds: the p99s of the
// two queue waits on its path (the reconcile queue, then the target's lane; a key waits
// there behind other keys, or behind its own earlier write still in flight), plus the
// syncer's CPU time per step. NaN without the histograms.
func (s split) syncerShare() float64 {
	return s.reconcileWait.Quantile(0.99) + s.laneWait.Quantile(0.99) + s.cpuPerStep()
}
