// Package metrics defines the Prometheus metrics of the syncer. Every syncer instance owns its
// own registry, so that several syncers can run in one process (tests, benchmarks).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/util/workqueue"
)

// Namespace prefixes every metric name.
const Namespace = "clusterset_syncer"

// Write results, the "result" label of WritesTotal.
const (
	ResultSuccess  = "success"
	ResultConflict = "conflict" // optimistic-concurrency conflict; retried with backoff
	ResultNotFound = "notfound" // a delete of an object already gone
	ResultError    = "error"
)

// Buckets of the latency histograms, fine enough for medians and 99th percentiles of a few
// milliseconds: queue waits and reconciles from 100 µs, API requests from 1 ms, to past the
// timeouts (factors of about 1.6).
var (
	queueBuckets   = prometheus.ExponentialBucketsRange(0.0001, 60, 30)
	requestBuckets = prometheus.ExponentialBucketsRange(0.001, 30, 24)
)

// Metrics holds one syncer's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	// SyncDuration observes, by lane, one reconcile of one (namespace, name)
	// (lane=ReconcileQueue: gathering the members' views, the merge and the export status) or
	// one write of its derived objects into a target cluster (lane=the cluster ID).
	SyncDuration *prometheus.HistogramVec
	// SyncErrors counts reconciles that failed and were requeued with backoff.
	SyncErrors prometheus.Counter
	// Writes counts API writes by target cluster, kind, verb and result. A resync of an
	// unchanged clusterset must not move it.
	Writes *prometheus.CounterVec
	// MembersConnected is the number of admitted members whose caches are running.
	MembersConnected prometheus.Gauge
	// MembersStale is the number of members whose endpoints are withdrawn.
	MembersStale prometheus.Gauge
	// MembersRefused counts member kubeconfigs refused, by reason.
	MembersRefused *prometheus.CounterVec
	// Skipped counts imports not written into a target, by reason (NamespaceMissing, Clash).
	Skipped *prometheus.CounterVec
	// EndpointsDropped counts member endpoints not mirrored into a target, by the member
	// that published them and the reason (desired.DropReason). Each endpoint is counted once
	// when it starts being dropped, not on every resync.
	EndpointsDropped *prometheus.CounterVec
	// Workqueue provides the metrics of every workqueue of the syncer (by queue name).
	Workqueue workqueue.MetricsProvider

	rest *restMetrics
}

// New creates the metrics and registers them, plus the Go and process collectors, in a new
// registry.
func New() *Metrics {
	wq := newWorkqueueMetrics()
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		SyncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "sync_duration_seconds",
			Help: "Time to reconcile one exported service (lane=" + ReconcileQueue +
				") or to write it into one target cluster (lane=the cluster ID).",
			Buckets: queueBuckets,
		}, []string{"lane"}),
		SyncErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "sync_errors_total",
			Help: "Reconciles that failed and were requeued with backoff.",
		}),
		Writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "writes_total",
			Help: "API writes by target cluster, kind, verb and result.",
		}, []string{"cluster", "kind", "verb", "result"}),
		MembersConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "members_connected",
			Help: "Admitted member clusters whose caches are running.",
		}),
		MembersStale: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "members_stale",
			Help: "Member clusters whose endpoints are withdrawn (lease expired or unreachable longer than the TTL).",
		}),
		MembersRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "members_refused_total",
			Help: "Member kubeconfigs refused, by reason.",
		}, []string{"reason"}),
		Skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "imports_skipped_total",
			Help: "Imports not written into a target cluster, by reason.",
		}, []string{"cluster", "reason"}),
		EndpointsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "endpoints_dropped_total",
			Help: "Member endpoints not mirrored into a target cluster (an address its apiserver would refuse, in its Service CIDRs, loopback, link-local, unspecified or multicast), by source cluster and reason.",
		}, []string{"cluster", "reason"}),
		Workqueue: wq,
		rest:      newRESTMetrics(),
	}
	m.Registry.MustRegister(wq.collectors()...)
	m.Registry.MustRegister(m.rest.collectors()...)
	m.Registry.MustRegister(
		m.SyncDuration, m.SyncErrors, m.Writes, m.MembersConnected, m.MembersStale,
		m.MembersRefused, m.Skipped, m.EndpointsDropped,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// CountWrite records one API write.
func (m *Metrics) CountWrite(cluster, kind, verb, result string) {
	m.Writes.WithLabelValues(cluster, kind, verb, result).Inc()
}
