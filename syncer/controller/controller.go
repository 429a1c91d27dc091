// Package controller is the syncer's reconcile loop: one workqueue of exported-service keys
// ("namespace/name") fed by every member's and every target's informers; a reconcile gathers
// every member's view of the key, computes the desired state, has every target write what
// differs, and sets the conditions of the exports whose status this syncer owns.
package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/source"
	"github.com/clusterset/clusterset/syncer/target"
)

// failuresBeforeReported is how many consecutive failed reconciles of a key make its exports
// Ready=False/Failed; fewer are treated as transient (conflicts, a lagging cache) and only
// retried, so that Ready does not flap.
const failuresBeforeReported = 5

// Options configure a Controller.
type Options struct {
	// Workers reconcile distinct keys in parallel.
	Workers int
	// MaxEndpointsPerSlice caps mirrored slices (at most 1000).
	MaxEndpointsPerSlice int
	// ResyncPeriod: every key is reconciled again at this period (0: never), which repairs
	// anything a missed event left behind and, on unchanged state, writes nothing.
	ResyncPeriod time.Duration
	// SyncTimeout bounds how long Run waits for the caches of the members and targets added
	// before it; one still unsynced then joins once it syncs.
	SyncTimeout time.Duration
	// Stale reports whether a member's endpoints are withdrawn.
	Stale   func(clusterID string) bool
	Metrics *metrics.Metrics
}

// Controller reconciles exported services across members into targets.
type Controller struct {
	opts  Options
	queue workqueue.TypedRateLimitingInterface[string]

	mu sync.RWMutex
	// members and targets have synced caches; pending counts those still syncing.
	members []*source.Cluster
	targets []*target.Cluster
	pending int
	// statusOwner holds the IDs of members whose export status this syncer writes.
	statusOwner map[string]bool
	started     bool
}

// New creates a controller and registers its queue depth metric.
func New(opts Options) *Controller {
	c := &Controller{
		opts: opts,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedMaxOfRateLimiter(
				workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 30*time.Second),
			),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusterset-syncer"}),
		statusOwner: map[string]bool{},
	}
	opts.Metrics.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "queue_depth",
		Help: "Exported services waiting to be reconciled.",
	}, func() float64 { return float64(c.queue.Len()) }))
	return c
}

// Enqueue schedules the exported service key ("namespace/name").
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueNamespace schedules every exported service of a namespace.
func (c *Controller) EnqueueNamespace(namespace string) {
	for _, key := range c.knownKeys() {
		if ns, _, _ := cache.SplitMetaNamespaceKey(key); ns == namespace {
			c.queue.Add(key)
		}
	}
}

// EnqueueMember schedules every service a member exports.
func (c *Controller) EnqueueMember(id string) {
	for _, m := range c.snapshotMembers() {
		if m.ID == id {
			for _, key := range m.ExportKeys() {
				c.queue.Add(key)
			}
		}
	}
}

// EnqueueAll schedules every exported service and every leftover the syncer wrote.
func (c *Controller) EnqueueAll() {
	for _, key := range c.knownKeys() {
		c.queue.Add(key)
	}
}

// AddMember adds a member whose caches run; ownStatus says whether this syncer writes the
// status of its exports. The member takes part once its caches have synced: a half-listed
// member would look like one that unexported everything.
func (c *Controller) AddMember(ctx context.Context, m *source.Cluster, ownStatus bool) {
	c.joinWhenSynced(ctx, m.HasSynced, func() {
		c.members = append(c.members, m)
		c.statusOwner[m.ID] = ownStatus
	}, func() {
		c.opts.Metrics.MembersConnected.Inc()
		for _, key := range m.ExportKeys() {
			c.queue.Add(key)
		}
	})
}

// AddTarget adds a cluster to write into, once its caches have synced: a half-listed target
// would be written into as if empty.
func (c *Controller) AddTarget(ctx context.Context, t *target.Cluster) {
	c.joinWhenSynced(ctx, t.HasSynced, func() { c.targets = append(c.targets, t) }, c.EnqueueAll)
}

// joinWhenSynced runs join (under the lock) and then after (without it) once hasSynced.
func (c *Controller) joinWhenSynced(ctx context.Context, hasSynced cache.InformerSynced, join, after func()) {
	c.mu.Lock()
	c.pending++
	c.mu.Unlock()
	go func() {
		synced := cache.WaitForCacheSync(ctx.Done(), hasSynced)
		c.mu.Lock()
		c.pending--
		if synced {
			join()
		}
		c.mu.Unlock()
		if synced {
			after()
		}
	}()
}

// Started reports whether Run has its caches and reconciles: the syncer's readiness.
func (c *Controller) Started() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.started
}

func (c *Controller) allJoined() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pending == 0
}

// Run waits (up to SyncTimeout) for the caches of the members and targets added so far,
// schedules every key, which also collects leftovers of exports that vanished while the
// syncer was down, and reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	waitCtx, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	synced := cache.WaitForCacheSync(waitCtx.Done(), c.allJoined)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	klog.FromContext(ctx).Info("Caches synced, reconciling", "members", len(c.snapshotMembers()), "allSynced", synced)
	c.mu.Lock()
	c.started = true
	c.mu.Unlock()
	c.EnqueueAll()
	if c.opts.ResyncPeriod > 0 {
		go func() {
			tick := time.NewTicker(c.opts.ResyncPeriod)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					c.EnqueueAll()
				}
			}
		}()
	}
	var wg sync.WaitGroup
	for range max(c.opts.Workers, 1) {
		wg.Go(func() { wait.UntilWithContext(ctx, c.work, time.Second) })
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) work(ctx context.Context) {
	for {
		key, quit := c.queue.Get()
		if quit {
			return
		}
		err := c.Sync(ctx, key)
		switch {
		case err == nil:
			c.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			c.opts.Metrics.SyncErrors.Inc()
			klog.FromContext(ctx).V(2).Info("Reconcile failed, retrying", "key", key, "err", err)
			c.queue.AddRateLimited(key)
		}
		c.queue.Done(key)
	}
}

// Sync reconciles one exported service into every target and writes the status of the
// exports this syncer owns.
func (c *Controller) Sync(ctx context.Context, key string) error {
	defer func(start time.Time) { c.opts.Metrics.SyncDuration.Observe(time.Since(start).Seconds()) }(time.Now())
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Dropping a malformed key", "key", key)
		return nil
	}
	members, targets := c.snapshotMembers(), c.snapshotTargets()
	var exports []desired.ClusterExport
	exporter := map[string]*source.Cluster{}
	for _, m := range members {
		if e, ok := m.Export(key); ok {
			e.Withdrawn = c.opts.Stale(m.ID)
			exports = append(exports, e)
			exporter[m.ID] = m
		}
	}
	svc, conditions := desired.Merge(namespace, name, exports)
	want := target.Desired{Service: svc, Exports: exports, MaxEndpointsPerSlice: c.opts.MaxEndpointsPerSlice}

	// Targets are independent clusters: write into them in parallel (hub mode has several).
	outs, targetErrs := make([]target.Outcome, len(targets)), make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { outs[i], targetErrs[i] = t.Sync(ctx, namespace, name, want) })
	}
	wg.Wait()
	published, imported := true, false
	var clashes []string
	var errs []error
	for i, out := range outs {
		if targetErrs[i] != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", targets[i].ID, targetErrs[i]))
		}
		published = published && (out.Published || out.NamespaceMissing)
		imported = imported || out.Published
		clashes = append(clashes, out.Clashes...)
	}
	syncErr := errors.Join(errs...)
	var publishErr error
	switch {
	case len(clashes) > 0:
		publishErr = errors.New(strings.Join(clashes, "; "))
	case syncErr != nil && c.queue.NumRequeues(key) >= failuresBeforeReported:
		publishErr = syncErr
	case syncErr != nil:
		return syncErr // transient until proven otherwise: retry before touching status
	}

	for _, e := range exports {
		if !c.ownsStatus(e.ClusterID) {
			continue
		}
		conds := conditions[e.ClusterID]
		valid := meta.FindStatusCondition(conds, string(mcsv1alpha1.ServiceExportConditionValid))
		if valid == nil {
			continue
		}
		ready := desired.ReadyCondition(*valid, published && imported, publishErr)
		if err := c.writeStatus(ctx, exporter[e.ClusterID], e.Export, append(conds, ready)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, syncErr)...)
}

// writeStatus sets conditions on an export when they differ from what it holds.
func (c *Controller) writeStatus(ctx context.Context, m *source.Cluster, export *mcsv1alpha1.ServiceExport, conds []metav1.Condition) error {
	updated, changed := desired.SetConditions(export.Status.Conditions, conds, metav1.Now())
	if !changed {
		return nil
	}
	obj := export.DeepCopy()
	obj.Status.Conditions = updated
	written, err := m.MCS.MulticlusterV1alpha1().ServiceExports(obj.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	result := metrics.ResultSuccess
	switch {
	case err == nil:
		m.Exports.Wrote(written)
	case apierrors.IsConflict(err):
		result = metrics.ResultConflict
	case apierrors.IsNotFound(err):
		// Unexported meanwhile: nothing left to report on.
		result, err = metrics.ResultNotFound, nil
	default:
		result = metrics.ResultError
	}
	c.opts.Metrics.CountWrite(m.ID, "ServiceExport", "updateStatus", result)
	return err
}

func (c *Controller) ownsStatus(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.statusOwner[id]
}

func (c *Controller) snapshotMembers() []*source.Cluster {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]*source.Cluster(nil), c.members...)
}

func (c *Controller) snapshotTargets() []*target.Cluster {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]*target.Cluster(nil), c.targets...)
}

// knownKeys lists every exported service of every member and every key the syncer has
// written objects for in any target.
func (c *Controller) knownKeys() []string {
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, m := range c.snapshotMembers() {
		for _, k := range m.ExportKeys() {
			add(k)
		}
	}
	for _, t := range c.snapshotTargets() {
		for _, k := range t.ManagedKeys() {
			add(k)
		}
	}
	return keys
}
