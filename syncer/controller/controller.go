// Package controller is the syncer's reconcile loop: one workqueue of exported-service keys
// ("namespace/name") fed by every member's and every target's informers. A reconcile gathers
// every member's view of the key, computes the desired state and hands it to each target's
// lane; it sets the conditions of the exports whose status this syncer owns from the lanes'
// outcomes.
//
// # Lanes
//
// Each target cluster has its own lane: a queue and workers that write the latest desired
// state of a key into that target, each write bounded by Options.TargetTimeout and retried
// with backoff. A slow or blackholed target thus delays only its own lane; the failures of
// every lane join into the export's Ready condition.
//
// # A partial view never deletes
//
// A member that is configured but not seen — its identity not known yet, its caches not
// synced — is unknown, not a member that exports nothing. What it exported is learnt from the
// ServiceImports the targets hold: a cluster named in an import's status.clusters that the
// syncer cannot see stays in the merge, with the import's values (its type, ports, affinity
// and so on), so that the import, its derived Service and its VIP stay as they are. Its
// mirrored slices are kept as they are until Options.MemberTTL has passed since the syncer
// could not see it (or the member is stale); then only its endpoints are withdrawn. A member
// that is admitted and synced but unreachable keeps its cached exports and loses only its
// endpoints once stale.
//
// Only a deliberate change removes a contribution: an unexport seen by a synced member, or
// the member leaving the configuration. The caller says which members exist:
//   - AddMember admits a member, or replaces the admitted one with its ID; while its caches
//     sync it is unknown.
//   - RemoveMember takes a member out (its source and, in hub mode, its target); what only
//     it exported is garbage-collected.
//   - SetUndecidedMembers tells how many configured candidates have no known identity yet
//     (never identified, unreachable, an unreadable kubeconfig). While it is above zero, any
//     cluster an import names that is not admitted is unknown and kept; once it is zero, such
//     a cluster has left the configuration and its contribution is collected.
//
// # Untrusted members
//
// Exports from namespaces the policy refuses (by default kube-system, kube-public,
// kube-node-lease and the syncer's own) and exports beyond a member's limit (its oldest
// exports are admitted) take no part in the merge; they are counted in
// clusterset_syncer_exports_refused_total{cluster,reason}, logged, and, where this syncer owns
// their status, get Valid=False (reason NamespaceNotAllowed or ExportLimitExceeded) and a
// Warning Event. An export's endpoints are cut to the per-export limit (counted in
// clusterset_syncer_export_endpoints_limited_total).
package controller

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/syncer/source"
	"github.com/clusterset/clusterset/syncer/target"
)

// failuresBeforeReported is how many consecutive failed writes of a key into a target make
// its exports Ready=False/Failed; fewer are treated as transient (conflicts, a lagging cache)
// and only retried, so that Ready does not flap.
const failuresBeforeReported = 5

// DefaultTargetTimeout bounds one key's writes into one target.
const DefaultTargetTimeout = 15 * time.Second

// Options configure a Controller.
type Options struct {
	// Workers reconcile distinct keys in parallel, and write into each target in parallel.
	Workers int
	// MaxEndpointsPerSlice caps mirrored slices (at most 1000).
	MaxEndpointsPerSlice int
	// ResyncPeriod: every key is reconciled again at this period (0: never), which repairs
	// anything a missed event left behind and, on unchanged state, writes nothing.
	ResyncPeriod time.Duration
	// SyncTimeout bounds how long Run waits for the caches of the members and targets added
	// before it; one still unsynced then joins once it syncs.
	SyncTimeout time.Duration
	// MemberTTL is how long the mirrored slices of a cluster the syncer cannot see are kept.
	MemberTTL time.Duration
	// TargetTimeout bounds one key's writes into one target (default DefaultTargetTimeout).
	TargetTimeout time.Duration
	// Namespaces admits exports by namespace.
	Namespaces policy.Namespaces
	// MaxExportsPerMember and MaxEndpointsPerExport limit what one member contributes
	// (0: no limit).
	MaxExportsPerMember   int
	MaxEndpointsPerExport int
	// Stale reports whether a member's endpoints are withdrawn.
	Stale   func(clusterID string) bool
	Metrics *metrics.Metrics
}

// Controller reconciles exported services across members into targets.
type Controller struct {
	opts      Options
	queue     workqueue.TypedRateLimitingInterface[string]
	admission *admission

	mu sync.RWMutex
	// members and lanes (one per target) have synced caches; pending counts those still
	// syncing.
	members []*source.Cluster
	lanes   []*lane
	pending int
	// joining and joiningTargets are admitted but still syncing, by ID.
	joining        map[string]*source.Cluster
	joiningTargets map[string]*target.Cluster
	membership     membership
	// unknownSince is when the syncer first found each unknown cluster.
	unknownSince map[string]time.Time
	// statusOwner holds the IDs of members whose export status this syncer writes, and
	// recorders their Event recorders.
	statusOwner map[string]bool
	recorders   map[string]record.EventRecorder
	started     bool

	laneWorkers sync.WaitGroup
}

// New creates a controller.
func New(opts Options) *Controller {
	if opts.TargetTimeout <= 0 {
		opts.TargetTimeout = DefaultTargetTimeout
	}
	c := &Controller{
		opts:           opts,
		queue:          newQueue(metrics.ReconcileQueue, opts.Metrics),
		admission:      newAdmission(opts),
		joining:        map[string]*source.Cluster{},
		joiningTargets: map[string]*target.Cluster{},
		// Until told otherwise, some candidate may be undecided: nothing unadmitted is collected.
		membership: membership{synced: map[string]bool{}, joining: map[string]bool{}, removed: map[string]bool{},
			undecided: 1},
		unknownSince: map[string]time.Time{},
		statusOwner:  map[string]bool{},
		recorders:    map[string]record.EventRecorder{},
	}
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

// EnqueueMember schedules every service a member exports, or exported as far as the
// targets' imports tell.
func (c *Controller) EnqueueMember(id string) {
	c.mu.RLock()
	m := c.joining[id]
	for _, s := range c.members {
		if s.ID == id {
			m = s
		}
	}
	lanes := slices.Clone(c.lanes)
	c.mu.RUnlock()
	c.enqueueContribution(id, m, lanes)
}

// enqueueContribution schedules what cluster id contributes: the exports of its source m
// (when known) and every import of lanes that names it.
func (c *Controller) enqueueContribution(id string, m *source.Cluster, lanes []*lane) {
	if m != nil {
		for _, key := range m.ExportKeys() {
			c.queue.Add(key)
		}
	}
	for _, l := range lanes {
		for _, key := range l.t.ImportsListing(id) {
			c.queue.Add(key)
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
// status of its exports (and Events on them). The member takes part once its caches have
// synced; until then it is unknown: a half-listed member would look like one that unexported
// everything. A member added under the ID of an admitted one replaces it at once, and is
// unknown (kept) until its caches sync: this is how new credentials for a member are
// swapped in without collecting anything, which RemoveMember then AddMember would risk.
func (c *Controller) AddMember(ctx context.Context, m *source.Cluster, ownStatus bool) {
	c.mu.Lock()
	replaced := false
	c.members = slices.DeleteFunc(c.members, func(old *source.Cluster) bool {
		replaced = replaced || old.ID == m.ID
		return old.ID == m.ID
	})
	delete(c.membership.synced, m.ID)
	c.joining[m.ID] = m
	c.membership.joining[m.ID] = true
	delete(c.membership.removed, m.ID)
	c.mu.Unlock()
	if replaced {
		c.opts.Metrics.MembersConnected.Dec()
	}
	c.joinWhenSynced(ctx, m.HasSynced, func() bool {
		if c.joining[m.ID] != m {
			return false // removed meanwhile
		}
		delete(c.joining, m.ID)
		delete(c.membership.joining, m.ID)
		delete(c.unknownSince, m.ID)
		c.members = append(c.members, m)
		slices.SortFunc(c.members, func(a, b *source.Cluster) int { return strings.Compare(a.ID, b.ID) })
		c.membership.synced[m.ID] = true
		c.statusOwner[m.ID] = ownStatus
		if ownStatus {
			c.recorders[m.ID] = eventRecorder(ctx, m)
		}
		return true
	}, func() {
		c.opts.Metrics.MembersConnected.Inc()
		// Its exports, and what the imports say it exported: it may have unexported while
		// it was unknown.
		c.EnqueueMember(m.ID)
	})
}

// eventRecorder records Events into a member cluster until ctx ends.
func eventRecorder(ctx context.Context, m *source.Cluster) record.EventRecorder {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcsv1alpha1.Install(scheme)
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.Kube.CoreV1().Events("")})
	go func() { <-ctx.Done(); b.Shutdown() }()
	return b.NewRecorder(scheme, corev1.EventSource{Component: desired.ManagerName})
}

func (c *Controller) recorder(id string) record.EventRecorder {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.recorders[id]
}

// AddTarget adds a cluster to write into, once its caches have synced: a half-listed target
// would be written into as if empty. Its lane runs until ctx ends. A target added under the
// ID of another replaces it once synced.
func (c *Controller) AddTarget(ctx context.Context, t *target.Cluster) {
	c.mu.Lock()
	c.joiningTargets[t.ID] = t
	c.mu.Unlock()
	c.joinWhenSynced(ctx, t.HasSynced, func() bool {
		if c.joiningTargets[t.ID] != t {
			return false
		}
		delete(c.joiningTargets, t.ID)
		c.lanes = slices.DeleteFunc(c.lanes, func(old *lane) bool {
			if old.t.ID == t.ID {
				old.queue.ShutDown()
				return true
			}
			return false
		})
		l := c.newLane(t)
		c.lanes = append(c.lanes, l)
		slices.SortFunc(c.lanes, func(a, b *lane) int { return strings.Compare(a.t.ID, b.t.ID) })
		c.runLane(ctx, l)
		return true
	}, c.EnqueueAll)
}

// RemoveMember takes member id out of reconciliation: its source and, in hub mode, its
// target. Every key it exported is reconciled again; what only it exported is
// garbage-collected. The caller stops the member's informers afterwards.
func (c *Controller) RemoveMember(id string) {
	c.mu.Lock()
	var gone *source.Cluster
	c.members = slices.DeleteFunc(c.members, func(m *source.Cluster) bool {
		if m.ID == id {
			gone = m
			return true
		}
		return false
	})
	if m := c.joining[id]; m != nil && gone == nil {
		gone = m
	}
	var goneLanes []*lane
	c.lanes = slices.DeleteFunc(c.lanes, func(l *lane) bool {
		if l.t.ID == id {
			goneLanes = append(goneLanes, l)
			return true
		}
		return false
	})
	wasSynced := c.membership.synced[id]
	delete(c.joining, id)
	delete(c.joiningTargets, id)
	delete(c.membership.synced, id)
	delete(c.membership.joining, id)
	delete(c.unknownSince, id)
	delete(c.statusOwner, id)
	delete(c.recorders, id)
	c.membership.removed[id] = true
	lanes := slices.Clone(c.lanes)
	c.mu.Unlock()
	c.admission.forgetMember(id)
	for _, l := range goneLanes {
		l.queue.ShutDown()
	}
	if wasSynced {
		c.opts.Metrics.MembersConnected.Dec()
	}
	c.enqueueContribution(id, gone, lanes)
}

// SetUndecidedMembers sets the number of configured member candidates whose identity is not
// known yet. When it drops to zero, every key is reconciled: clusters the imports name that
// are not admitted have left the configuration, and what they contributed is collected.
func (c *Controller) SetUndecidedMembers(n int) {
	c.mu.Lock()
	was := c.membership.undecided
	c.membership.undecided = max(n, 0)
	c.mu.Unlock()
	if was > 0 && n <= 0 {
		c.EnqueueAll()
	}
}

// joinWhenSynced runs join (under the lock) and then, if it joined, after (without it) once
// hasSynced.
func (c *Controller) joinWhenSynced(ctx context.Context, hasSynced cache.InformerSynced, join func() bool, after func()) {
	c.mu.Lock()
	c.pending++
	c.mu.Unlock()
	go func() {
		synced := cache.WaitForCacheSync(ctx.Done(), hasSynced)
		c.mu.Lock()
		c.pending--
		joined := synced && join()
		c.mu.Unlock()
		if joined {
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
// syncer was down, and reconciles until ctx ends. It returns once no worker writes any more.
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
	for _, l := range c.snapshotLanes() {
		l.queue.ShutDown()
	}
	wg.Wait()
	c.laneWorkers.Wait()
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

func (c *Controller) ownsStatus(id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.statusOwner[id]
}

func (c *Controller) snapshotMembers() []*source.Cluster {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.members)
}

func (c *Controller) snapshotLanes() []*lane {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.lanes)
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
	for _, l := range c.snapshotLanes() {
		for _, k := range l.t.ManagedKeys() {
			add(k)
		}
	}
	return keys
}
