package metrics

import (
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// TestWorkqueueMetrics: two queues of one registry report under their own names.
func TestWorkqueueMetrics(t *testing.T) {
	m := New()
	queue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, MetricsProvider: m.Workqueue})
		t.Cleanup(q.ShutDown)
		return q
	}
	a, b := queue("c1"), queue(ReconcileQueue)
	a.Add("x")
	a.Add("y")
	b.Add("x")
	key, _ := b.Get()
	b.AddRateLimited(key)
	b.Done(key)

	got := series(t, m.Registry)
	for name, want := range map[string]float64{
		`clusterset_syncer_workqueue_depth{name="c1"}`:                          2,
		`clusterset_syncer_workqueue_adds_total{name="c1"}`:                     2,
		`clusterset_syncer_workqueue_depth{name="_reconcile"}`:                  0,
		`clusterset_syncer_workqueue_queue_duration_seconds{name="c1"}`:         0,
		`clusterset_syncer_workqueue_queue_duration_seconds{name="_reconcile"}`: 1,
		`clusterset_syncer_workqueue_work_duration_seconds{name="_reconcile"}`:  1,
		`clusterset_syncer_workqueue_retries_total{name="_reconcile"}`:          1,
		`clusterset_syncer_workqueue_retries_total{name="c1"}`:                  0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", name, v, ok, want)
		}
	}
	// The unfinished-work gauges are set every 500 ms while a key is being worked on.
	key, _ = a.Get()
	deadline := time.Now().Add(10 * time.Second)
	for series(t, m.Registry)[`clusterset_syncer_workqueue_longest_running_processor_seconds{name="c1"}`] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("longest_running_processor_seconds of c1 still 0 with a key in progress")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if series(t, m.Registry)[`clusterset_syncer_workqueue_unfinished_work_seconds{name="c1"}`] == 0 {
		t.Error("unfinished_work_seconds of c1 is 0 with a key in progress")
	}
	a.Done(key)
}
