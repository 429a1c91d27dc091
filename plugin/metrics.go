package clusterset

import (
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var rebuildDuration = promauto.NewHistogram(prometheus.HistogramOpts{
	Namespace: plugin.Namespace,
	Subsystem: pluginName,
	Name:      "index_rebuild_duration_seconds",
	Help:      "Time to re-index the changed imports and publish the new index, over every clusterset block.",
	// From 100µs to ~3.3s.
	Buckets:                     prometheus.ExponentialBuckets(0.0001, 2, 16),
	NativeHistogramBucketFactor: plugin.NativeHistogramBucketFactor,
})

func init() { prometheus.MustRegister(indexCollector{}) }

// The gauges of the serving indexes carry the server ("dns://:53") and the zone, as CoreDNS's
// own metrics do, so that several clusterset blocks each keep their own series. They are read
// from the serving instances when scraped: an instance that a reload or shutdown removed leaves
// no stale series behind.
var (
	labels      = []string{"server", "zone"}
	importsDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "imports"),
		"The number of ServiceImports in the serving index.", labels, nil)
	endpointsDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "endpoints"),
		"The number of ready headless endpoint addresses in the serving index.", labels, nil)
	ageDesc = prometheus.NewDesc(prometheus.BuildFQName(plugin.Namespace, pluginName, "snapshot_age_seconds"),
		"Seconds since the serving index was built; it grows while nothing changes.", labels, nil)
)

type indexCollector struct{}

func (indexCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- importsDesc
	ch <- endpointsDesc
	ch <- ageDesc
}

func (indexCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[[2]string]bool{} // two blocks may serve one zone on one server; report the first
	for _, in := range servingInstances() {
		snap := in.cs.snapshot.Load()
		if snap == nil {
			continue
		}
		age := time.Since(time.Unix(0, in.published.Load())).Seconds()
		for _, zone := range in.cs.Zones {
			if seen[[2]string{in.server, zone}] {
				continue
			}
			seen[[2]string{in.server, zone}] = true
			ch <- prometheus.MustNewConstMetric(importsDesc, prometheus.GaugeValue, float64(snap.imports), in.server, zone)
			ch <- prometheus.MustNewConstMetric(endpointsDesc, prometheus.GaugeValue, float64(snap.endpoints), in.server, zone)
			ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, in.server, zone)
		}
	}
}
