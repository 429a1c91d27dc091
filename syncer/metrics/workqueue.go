package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// ReconcileQueue names the controller's reconcile queue in the workqueue metrics and the
// "lane" label of sync_duration_seconds. Each target cluster's lane is named by the
// cluster's ID, which is a DNS label and so never this.
const ReconcileQueue = "_reconcile"

// workqueueMetrics provides the metrics of the syncer's workqueues, labelled by queue name,
// in one syncer's registry: client-go's global provider (workqueue.SetProvider) would
// mix the queues of every syncer of a process.
type workqueueMetrics struct {
	depth, unfinished, longest *prometheus.GaugeVec
	adds, retries              *prometheus.CounterVec
	queueDuration, work        *prometheus.HistogramVec
}

var _ workqueue.MetricsProvider = (*workqueueMetrics)(nil)

func newWorkqueueMetrics() *workqueueMetrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "workqueue_" + name, Help: help}, []string{"name"})
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "workqueue_" + name, Help: help}, []string{"name"})
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "workqueue_" + name, Help: help,
			Buckets: queueBuckets}, []string{"name"})
	}
	return &workqueueMetrics{
		depth:         gauge("depth", "Keys waiting in the workqueue."),
		adds:          counter("adds_total", "Keys added to the workqueue."),
		queueDuration: histogram("queue_duration_seconds", "Time a key waits in the workqueue before a worker takes it."),
		work:          histogram("work_duration_seconds", "Time a worker spends on a key taken from the workqueue."),
		unfinished: gauge("unfinished_work_seconds",
			"Seconds of work in progress that has not been observed by work_duration_seconds yet; large values mean stuck workers."),
		longest: gauge("longest_running_processor_seconds", "Seconds the longest-running worker of the workqueue has been at its key."),
		retries: counter("retries_total", "Keys requeued with backoff after a failure."),
	}
}

func (w *workqueueMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{w.depth, w.adds, w.queueDuration, w.work, w.unfinished, w.longest, w.retries}
}

func (w *workqueueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return w.depth.WithLabelValues(name)
}

func (w *workqueueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return w.adds.WithLabelValues(name)
}

func (w *workqueueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return w.queueDuration.WithLabelValues(name)
}

func (w *workqueueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return w.work.WithLabelValues(name)
}

func (w *workqueueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return w.unfinished.WithLabelValues(name)
}

func (w *workqueueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return w.longest.WithLabelValues(name)
}

func (w *workqueueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return w.retries.WithLabelValues(name)
}
