package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/syncer/source"
	"github.com/clusterset/clusterset/syncer/target"
)

// Sync reconciles one exported service: it hands the desired state to every target's lane
// and writes the status of the exports this syncer owns from the lanes' last outcomes.
func (c *Controller) Sync(ctx context.Context, key string) error {
	defer func(start time.Time) {
		c.opts.Metrics.SyncDuration.WithLabelValues(metrics.ReconcileQueue).Observe(time.Since(start).Seconds())
	}(time.Now())
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Dropping a malformed key", "key", key)
		return nil
	}
	logger := klog.FromContext(ctx)
	members, lanes := c.snapshotMembers(), c.snapshotLanes()
	for _, m := range members {
		for _, k := range c.admission.refresh(logger, m) {
			if k != key {
				c.queue.Add(k)
			}
		}
	}

	var visible []desired.ClusterExport
	exporter := map[string]*source.Cluster{}
	exportObjs := map[string]*mcsv1alpha1.ServiceExport{}
	refused := map[string]*refusal{}
	for _, m := range members {
		e, ok := m.Export(key)
		if !ok {
			c.admission.forget(m.ID, key)
			continue
		}
		exporter[m.ID], exportObjs[m.ID] = m, e.Export
		if r, isNew := c.admission.check(m, namespace, key); r != nil {
			refused[m.ID] = r
			if isNew {
				c.warn(logger, m, e.Export, r.reason, r.message)
			}
			continue
		}
		var dropped int
		var isNew bool
		if e.Slices, dropped, isNew = c.admission.limitEndpoints(m.ID, key, e.Slices); isNew {
			c.warn(logger, m, e.Export, policy.ReasonEndpointLimitExceeded, fmt.Sprintf(
				"%d endpoints left out: an export may have at most %d", dropped, c.opts.MaxEndpointsPerExport))
		}
		e.Withdrawn = c.opts.Stale(m.ID)
		visible = append(visible, e)
	}
	svc, conditions := desired.Merge(namespace, name, visible)

	kept, retryAfter := c.keptClusters(key, lanes, svc)
	if retryAfter > 0 {
		c.queue.AddAfter(key, retryAfter)
	}
	merged := svc
	if len(kept) > 0 {
		// The conditions stay those of the visible exports: a conflict with an export the
		// syncer cannot see cannot be told.
		all := slices.Clone(visible)
		for _, k := range kept {
			all = append(all, keptExport(k.id, k.from, k.created, nil))
		}
		merged, _ = desired.Merge(namespace, name, all)
	}
	desiredWith := func(exports []desired.ClusterExport) target.Desired {
		return target.Desired{Service: merged, Exports: exports, MaxEndpointsPerSlice: c.opts.MaxEndpointsPerSlice}
	}
	if len(kept) == 0 {
		want := desiredWith(visible)
		for _, l := range lanes {
			l.submit(key, want)
		}
		return c.writeStatuses(ctx, key, lanes, exporter, exportObjs, refused, conditions)
	}
	for _, l := range lanes {
		// The endpoints of a kept cluster are those mirrored into this target.
		exports, mirrored := slices.Clone(visible), l.t.MirroredSlices(key)
		for _, k := range kept {
			var sources []*discoveryv1.EndpointSlice
			if k.live {
				sources = asSource(mirrored, k.id, name)
			}
			exports = append(exports, keptExport(k.id, k.from, k.created, sources))
		}
		l.submit(key, desiredWith(exports))
	}
	return c.writeStatuses(ctx, key, lanes, exporter, exportObjs, refused, conditions)
}

// writeStatuses sets the conditions of the exports of key whose status this syncer owns.
func (c *Controller) writeStatuses(ctx context.Context, key string, lanes []*lane, exporter map[string]*source.Cluster,
	exportObjs map[string]*mcsv1alpha1.ServiceExport, refused map[string]*refusal, conditions map[string][]metav1.Condition) error {
	var errs []error
	for id, m := range exporter {
		if !c.ownsStatus(id) {
			continue
		}
		e := exportObjs[id]
		var conds []metav1.Condition
		if r := refused[id]; r != nil {
			conds = refusedConditions(r, e.Generation)
		} else {
			conds = conditions[id]
			valid := meta.FindStatusCondition(conds, string(mcsv1alpha1.ServiceExportConditionValid))
			if valid == nil {
				continue
			}
			// Ready is left as it is while some target has not reported or fails transiently.
			if published, publishErr, decided := outcome(key, lanes); decided || valid.Status != metav1.ConditionTrue {
				conds = append(conds, desired.ReadyCondition(*valid, published, publishErr))
			}
		}
		if err := c.writeStatus(ctx, m, e, conds); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// outcome joins the lanes' last outcomes for key: whether the service is published wherever
// its namespace exists (and somewhere), and the error to report. decided is false while some
// lane has no outcome yet or fails transiently.
func outcome(key string, lanes []*lane) (published bool, publishErr error, decided bool) {
	published, imported := true, false
	var clashes []string
	var errs []error
	for _, l := range lanes {
		r, ok := l.result(key)
		switch {
		case !ok:
			return false, nil, false
		case r.err != nil && r.failures < failuresBeforeReported:
			return false, nil, false
		case r.err != nil:
			errs = append(errs, fmt.Errorf("cluster %s: %w", l.t.ID, r.err))
		}
		published = published && (r.out.Published || r.out.NamespaceMissing)
		imported = imported || r.out.Published
		clashes = append(clashes, r.out.Clashes...)
	}
	switch {
	case len(clashes) > 0:
		publishErr = errors.New(strings.Join(clashes, "; "))
	case len(errs) > 0:
		publishErr = errors.Join(errs...)
	}
	return published && imported, publishErr, true
}

// keptCluster is a cluster that the targets' imports of a key name and that the syncer
// cannot see (see the package documentation).
type keptCluster struct {
	id string
	// from is the import that names it, created its rank in the merge.
	from    *mcsv1alpha1.ServiceImport
	created metav1.Time
	// live: its mirrored slices are kept (the TTL has not passed and it is not stale).
	live bool
}

// keptClusters returns the kept clusters of key, and when the first of the live ones
// expires (0 when none is live).
func (c *Controller) keptClusters(key string, lanes []*lane, visible *desired.Service) ([]keptCluster, time.Duration) {
	var kept []keptCluster
	var retryAfter time.Duration
	seen := map[string]bool{}
	now := time.Now()
	for _, l := range lanes {
		si, ok := l.t.Import(key)
		if !ok {
			continue
		}
		var created *metav1.Time
		for _, cl := range si.Status.Clusters {
			id := cl.Cluster
			if seen[id] {
				continue
			}
			seen[id] = true
			since, unknown := c.unknownFor(id, now)
			if !unknown {
				continue
			}
			if created == nil {
				created = ptrTo(keptCreation(si, visible))
			}
			k := keptCluster{id: id, from: si, created: *created}
			if left := c.opts.MemberTTL - now.Sub(since); left > 0 && !c.opts.Stale(id) {
				k.live = true
				if retryAfter == 0 || left < retryAfter {
					retryAfter = left + 100*time.Millisecond
				}
			}
			kept = append(kept, k)
		}
	}
	return kept, retryAfter
}

// unknownFor reports whether cluster id is unknown and since when the syncer knows so.
func (c *Controller) unknownFor(id string, now time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.membership.unknown(id) {
		delete(c.unknownSince, id)
		return time.Time{}, false
	}
	since, ok := c.unknownSince[id]
	if !ok {
		since = now
		c.unknownSince[id] = now
	}
	return since, true
}

// writeStatus sets conditions on an export when they differ from what it holds.
func (c *Controller) writeStatus(ctx context.Context, m *source.Cluster, export *mcsv1alpha1.ServiceExport, conds []metav1.Condition) error {
	updated, changed := desired.SetConditions(export.Status.Conditions, conds, metav1.Now())
	if !changed {
		return nil
	}
	obj := export.DeepCopy()
	obj.Status.Conditions = updated
	// A member that does not answer must not hold a worker.
	ctx, cancel := context.WithTimeout(ctx, c.opts.TargetTimeout)
	defer cancel()
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

func ptrTo[T any](v T) *T { return &v }
