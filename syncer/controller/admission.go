package controller

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/syncer/source"
)

// admission applies the policy on member data: the namespace policy and the per-member
// limits. It remembers what it refused, so that the metrics, log lines and Events mark a
// change rather than every reconcile.
type admission struct {
	namespaces   policy.Namespaces
	maxExports   int
	maxEndpoints int

	refusedTotal *prometheus.CounterVec
	limitedTotal *prometheus.CounterVec

	mu sync.Mutex
	// byMember caches the exports admitted under the export limit, per member.
	byMember map[string]admittedExports
	// refused and limited hold "cluster/namespace/name" of refused exports (with the reason)
	// and of exports whose endpoints were cut.
	refused map[string]string
	limited map[string]bool
}

type admittedExports struct {
	member  *source.Cluster
	version uint64
	// all: the member has no more exports than the limit, so every one is admitted;
	// otherwise keys holds the admitted ones.
	all  bool
	keys map[string]bool
	over bool // more exports than the limit
}

func newAdmission(o Options) *admission {
	a := &admission{
		namespaces:   o.Namespaces,
		maxExports:   o.MaxExportsPerMember,
		maxEndpoints: o.MaxEndpointsPerExport,
		refusedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "exports_refused_total",
			Help: "Exports refused (namespace policy, per-member export limit), by member cluster and reason; counted when refused, not per reconcile.",
		}, []string{"cluster", "reason"}),
		limitedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Name: "export_endpoints_limited_total",
			Help: "Exports whose endpoints were cut to the per-export limit, by member cluster; counted when cut, not per reconcile.",
		}, []string{"cluster"}),
		byMember: map[string]admittedExports{},
		refused:  map[string]string{},
		limited:  map[string]bool{},
	}
	o.Metrics.Registry.MustRegister(a.refusedTotal, a.limitedTotal)
	return a
}

// refusal is why an export takes no part in the merge.
type refusal struct {
	reason, message string
}

// refresh recomputes which of m's exports are within the export limit when its exports
// changed, and returns the keys whose admission changed: they need a reconcile.
func (a *admission) refresh(logger klog.Logger, m *source.Cluster) []string {
	if a.maxExports <= 0 {
		return nil
	}
	v := m.ExportsVersion()
	a.mu.Lock()
	old, ok := a.byMember[m.ID]
	a.mu.Unlock()
	if ok && old.member == m && old.version == v {
		return nil
	}
	known := ok && old.member == m
	now := admittedExports{member: m, version: v, all: true}
	// Within the limit, which is the usual case, there is nothing to list or sort: an export
	// event then costs the same with ten thousand exports as with ten.
	if m.ExportCount() > a.maxExports {
		var candidates []policy.Export
		for _, e := range m.ListExports() {
			if ok, _ := a.namespaces.Admits(e.Namespace); ok {
				candidates = append(candidates, policy.Export{Key: e.Namespace + "/" + e.Name, Created: e.CreationTimestamp})
			}
		}
		now.all, now.keys = false, policy.AdmitOldest(candidates, a.maxExports)
		now.over = len(candidates) > a.maxExports
		if now.over && !(known && old.over) {
			// Once per crossing: a flood must not flood the log too.
			logger.Info("Member exceeds the export limit; its oldest exports are admitted", "cluster", m.ID,
				"exports", len(candidates), "limit", a.maxExports)
		}
	}
	a.mu.Lock()
	a.byMember[m.ID] = now
	a.mu.Unlock()
	if !known || (old.all && now.all) {
		return nil // a first computation: every key is reconciled anyway
	}
	var changed []string
	for _, k := range m.ExportKeys() {
		if old.admits(k) != now.admits(k) {
			changed = append(changed, k)
		}
	}
	return changed
}

func (e admittedExports) admits(key string) bool { return e.all || e.keys[key] }

// check tells whether member m's export of key takes part, and if not, why. It records the
// outcome and reports whether the export has just been refused.
func (a *admission) check(m *source.Cluster, namespace, key string) (*refusal, bool) {
	var r *refusal
	if ok, msg := a.namespaces.Admits(namespace); !ok {
		r = &refusal{policy.ReasonNamespaceNotAllowed, msg}
	} else if a.maxExports > 0 {
		a.mu.Lock()
		admitted := a.byMember[m.ID].admits(key)
		a.mu.Unlock()
		if !admitted {
			r = &refusal{policy.ReasonExportLimitExceeded, fmt.Sprintf(
				"cluster %s exports more than %d services; the oldest exports are admitted", m.ID, a.maxExports)}
		}
	}
	id := m.ID + "/" + key
	a.mu.Lock()
	defer a.mu.Unlock()
	if r == nil {
		delete(a.refused, id)
		return nil, false
	}
	isNew := a.refused[id] != r.reason
	a.refused[id] = r.reason
	if isNew {
		a.refusedTotal.WithLabelValues(m.ID, r.reason).Inc()
	}
	return r, isNew
}

// forget drops what is remembered about member m's export of key, which is gone.
func (a *admission) forget(member, key string) {
	id := member + "/" + key
	a.mu.Lock()
	delete(a.refused, id)
	delete(a.limited, id)
	a.mu.Unlock()
}

// forgetMember drops the cached admission of a member that left.
func (a *admission) forgetMember(member string) {
	a.mu.Lock()
	delete(a.byMember, member)
	a.mu.Unlock()
}

// limitEndpoints cuts an export's source slices to the per-export endpoint limit. It
// returns the slices, how many endpoints were left out, and whether the cut is new.
func (a *admission) limitEndpoints(member, key string, slices []*discoveryv1.EndpointSlice) ([]*discoveryv1.EndpointSlice, int, bool) {
	out, dropped := policy.LimitEndpoints(slices, a.maxEndpoints)
	id := member + "/" + key
	a.mu.Lock()
	defer a.mu.Unlock()
	if dropped == 0 {
		delete(a.limited, id)
		return out, 0, false
	}
	isNew := !a.limited[id]
	a.limited[id] = true
	if isNew {
		a.limitedTotal.WithLabelValues(member).Inc()
	}
	return out, dropped, isNew
}

// refusedConditions are the conditions of an export refused by policy: not valid, no part
// in the merge, and not exported.
func refusedConditions(r *refusal, generation int64) []metav1.Condition {
	cond := func(t mcsv1alpha1.ServiceExportConditionType, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
		return metav1.Condition{Type: string(t), Status: status, Reason: reason, Message: msg, ObservedGeneration: generation}
	}
	return []metav1.Condition{
		cond(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionFalse, r.reason, r.message),
		cond(mcsv1alpha1.ServiceExportConditionConflict, metav1.ConditionFalse, string(mcsv1alpha1.ServiceExportReasonNoConflicts),
			"the export is refused and takes no part in the merge"),
		cond(mcsv1alpha1.ServiceExportConditionReady, metav1.ConditionFalse, string(mcsv1alpha1.ServiceExportReasonFailed),
			"the export is refused: "+r.message),
	}
}

// warn reports a refusal or a cut: a log line at the default level and, when this syncer
// owns the export's status (so the export lives in a cluster it writes), a Warning Event on
// the export.
func (c *Controller) warn(logger klog.Logger, m *source.Cluster, export *mcsv1alpha1.ServiceExport, reason, msg string) {
	// Exports past the limit are logged in aggregate by refresh.
	verbosity := 0
	if reason == policy.ReasonExportLimitExceeded {
		verbosity = 2
	}
	logger.V(verbosity).Info("Export limited by policy", "cluster", m.ID, "namespace", export.Namespace, "name", export.Name,
		"reason", reason, "detail", msg)
	if rec := c.recorder(m.ID); rec != nil {
		rec.Event(export, corev1.EventTypeWarning, reason, msg)
	}
}
