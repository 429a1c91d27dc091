package clusterset

import (
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	importsIndexed = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "imports",
		Help:      "The number of ServiceImports in the published index.",
	})
	endpointsIndexed = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "endpoints",
		Help:      "The number of ready headless endpoint addresses in the published index.",
	})
	rebuildDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "index_rebuild_duration_seconds",
		Help:      "Time to re-index the changed imports and publish the new index.",
		// From 100µs to ~3.3s.
		Buckets:                     prometheus.ExponentialBuckets(0.0001, 2, 16),
		NativeHistogramBucketFactor: plugin.NativeHistogramBucketFactor,
	})
	// lastPublished is the Unix time in nanoseconds at which the serving index was published, 0
	// before the first one. With several clusterset blocks in one server it is the latest of them.
	lastPublished atomic.Int64
	_             = promauto.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: plugin.Namespace,
		Subsystem: pluginName,
		Name:      "snapshot_age_seconds",
		Help:      "Seconds since the serving index was published; it grows while nothing changes.",
	}, func() float64 {
		t := lastPublished.Load()
		if t == 0 {
			return 0
		}
		return time.Since(time.Unix(0, t)).Seconds()
	})
)
