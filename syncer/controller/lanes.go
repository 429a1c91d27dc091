package controller

import (
	"context"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/target"
)

// lane writes into one target cluster: its own queue and workers, so that a slow or dead
// target delays only itself. Reconciles hand it the latest desired state of a key; its
// workers write it, retry with backoff, and record the outcome, which the export status is
// computed from.
type lane struct {
	t     *target.Cluster
	queue workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	seq     uint64
	wants   map[string]submission // latest desired state not yet written
	results map[string]laneResult // last outcome per key
}

type submission struct {
	want target.Desired
	seq  uint64
}

// laneResult is the outcome of the last write of a key into a lane's target.
type laneResult struct {
	out target.Outcome
	err error
	// failures counts consecutive failed writes.
	failures int
}

// summary is what the export status depends on; a change of it triggers a reconcile.
func (r laneResult) summary() string {
	return strings.Join([]string{
		boolString(r.out.Published), boolString(r.out.NamespaceMissing), boolString(r.err != nil),
		boolString(r.failures >= failuresBeforeReported), strings.Join(r.out.Clashes, "\n"),
	}, "|")
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func (c *Controller) newLane(t *target.Cluster) *lane {
	return &lane{
		t:       t,
		queue:   newQueue(t.ID, c.opts.Metrics),
		wants:   map[string]submission{},
		results: map[string]laneResult{},
	}
}

// newQueue makes a workqueue whose metrics are labelled name in m's registry: the target
// cluster's ID for a lane, metrics.ReconcileQueue for the reconcile queue.
func newQueue(name string, m *metrics.Metrics) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: m.Workqueue})
}

// submit schedules want to be written for key, replacing any older state not yet written.
func (l *lane) submit(key string, want target.Desired) {
	l.mu.Lock()
	l.seq++
	l.wants[key] = submission{want: want, seq: l.seq}
	l.mu.Unlock()
	l.queue.Add(key)
}

func (l *lane) result(key string) (laneResult, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.results[key]
	return r, ok
}

// record stores the outcome of writing s and reports whether the export status may change.
func (l *lane) record(key string, s submission, r laneResult) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.err == nil && l.wants[key].seq == s.seq {
		delete(l.wants, key)
	}
	old, had := l.results[key]
	if r.err == nil && s.want.Service == nil {
		// Removed: no export status depends on it any more.
		delete(l.results, key)
		return false
	}
	l.results[key] = r
	return !had || old.summary() != r.summary()
}

// runLane runs the lane's workers until ctx ends or the lane is shut down (the target left,
// or Run returns).
func (c *Controller) runLane(ctx context.Context, l *lane) {
	go func() { <-ctx.Done(); l.queue.ShutDown() }()
	for range max(c.opts.Workers, 1) {
		c.laneWorkers.Go(func() { c.laneWork(ctx, l) })
	}
}

// laneWork writes keys into the lane's target until the lane is shut down or ctx ends.
func (c *Controller) laneWork(ctx context.Context, l *lane) {
	for {
		key, quit := l.queue.Get()
		if quit {
			return
		}
		l.mu.Lock()
		s, ok := l.wants[key]
		l.mu.Unlock()
		if !ok {
			l.queue.Forget(key)
			l.queue.Done(key)
			continue
		}
		namespace, name, _ := cache.SplitMetaNamespaceKey(key)
		syncCtx, cancel := context.WithTimeout(ctx, c.opts.TargetTimeout)
		start := time.Now()
		out, err := l.t.Sync(syncCtx, namespace, name, s.want)
		c.opts.Metrics.SyncDuration.WithLabelValues(l.t.ID).Observe(time.Since(start).Seconds())
		cancel()
		if ctx.Err() != nil {
			l.queue.Done(key)
			return
		}
		r := laneResult{out: out, err: err}
		if err != nil {
			r.failures = l.queue.NumRequeues(key) + 1
			c.opts.Metrics.SyncErrors.Inc()
			klog.FromContext(ctx).V(2).Info("Writing into target failed, retrying", "cluster", l.t.ID, "key", key, "err", err)
			l.queue.AddRateLimited(key)
		} else {
			l.queue.Forget(key)
		}
		changed := l.record(key, s, r)
		l.queue.Done(key)
		if changed {
			c.queue.Add(key)
		}
	}
}
