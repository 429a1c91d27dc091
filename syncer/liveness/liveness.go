// Package liveness tells live members from stale ones. Every syncer renews a heartbeat Lease
// in its own cluster; a Tracker probes each member's Lease and declares the member stale when
// the member has been unreachable for longer than the TTL, or when its Lease has not been
// renewed within the Lease's duration. Renewals are timed on the tracker's own clock, so
// clock skew between clusters does not matter.
package liveness

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// LeaseName is the heartbeat Lease every syncer renews in its own namespace.
const LeaseName = "clusterset-syncer-heartbeat"

// Heartbeat creates and then renews the heartbeat Lease in namespace every ttl/3, declaring
// a duration of ttl, until ctx ends. Failures are logged and retried at the next tick.
func Heartbeat(ctx context.Context, client kubernetes.Interface, namespace, holder string, ttl time.Duration) {
	leases := client.CoordinationV1().Leases(namespace)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		now := metav1.NowMicro()
		lease, err := leases.Get(ctx, LeaseName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: namespace}}
			setHeartbeat(lease, holder, ttl, now)
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		case err == nil:
			setHeartbeat(lease, holder, ttl, now)
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		// A conflict is another replica's renewal, which serves as well.
		if err != nil && ctx.Err() == nil && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			klog.FromContext(ctx).Error(err, "Renewing the heartbeat Lease failed", "namespace", namespace)
		}
	}, ttl/3)
}

func setHeartbeat(l *coordinationv1.Lease, holder string, ttl time.Duration, now metav1.MicroTime) {
	l.Spec.HolderIdentity = ptr.To(holder)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(max(ttl/time.Second, 1)))
	l.Spec.RenewTime = &now
}

// Observation is what a tracker knows about one member.
type Observation struct {
	// LastReachable is when the member last answered.
	LastReachable time.Time
	// Renewed is when the tracker first saw the member's current Lease renewTime; zero when
	// the member has no heartbeat Lease (no syncer runs there, as in hub mode).
	Renewed time.Time
	// LeaseDuration is the duration the Lease declares.
	LeaseDuration time.Duration
}

// IsStale reports whether a member is stale at now: unreachable for longer than ttl, or
// with a Lease not renewed within its duration.
func IsStale(o Observation, now time.Time, ttl time.Duration) bool {
	if now.Sub(o.LastReachable) > ttl {
		return true
	}
	return !o.Renewed.IsZero() && now.Sub(o.Renewed) > o.LeaseDuration
}

// Tracker follows the liveness of members.
type Tracker struct {
	namespace string
	ttl       time.Duration
	onChange  func(id string, stale bool)

	mu      sync.Mutex
	members map[string]*member
}

type member struct {
	obs       Observation
	renewTime time.Time // the Lease's renewTime as last seen, on the member's clock
	stale     bool
	// unreachable: the last probe got no answer.
	unreachable bool
}

// NewTracker reads heartbeat Leases in namespace. onChange is called (without locks held)
// whenever a member becomes stale or live again.
func NewTracker(namespace string, ttl time.Duration, onChange func(id string, stale bool)) *Tracker {
	return &Tracker{namespace: namespace, ttl: ttl, onChange: onChange, members: map[string]*member{}}
}

// Stale reports whether the member is currently stale. Unknown members are not.
func (t *Tracker) Stale(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[id]
	return ok && m.stale
}

// Reachable reports whether the member answered its last probe. Members not tracked count
// as reachable.
func (t *Tracker) Reachable(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[id]
	return !ok || !m.unreachable
}

// StaleCount is the number of stale members.
func (t *Tracker) StaleCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.members {
		if m.stale {
			n++
		}
	}
	return n
}

// Forget drops a member that left the clusterset, and tells onChange when it was stale.
func (t *Tracker) Forget(id string) {
	t.mu.Lock()
	m, ok := t.members[id]
	delete(t.members, id)
	t.mu.Unlock()
	if ok && m.stale {
		t.onChange(id, false)
	}
}

// Track probes the member until ctx ends, every quarter TTL. The member counts as reachable
// from the start: it has just been identified.
func (t *Tracker) Track(ctx context.Context, id string, client kubernetes.Interface) {
	t.mu.Lock()
	t.members[id] = &member{obs: Observation{LastReachable: time.Now()}}
	t.mu.Unlock()
	interval := min(max(t.ttl/4, 100*time.Millisecond), 10*time.Second)
	timeout := min(max(t.ttl/2, 100*time.Millisecond), 5*time.Second)
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		probeCtx, cancel := context.WithTimeout(ctx, timeout)
		lease, err := client.CoordinationV1().Leases(t.namespace).Get(probeCtx, LeaseName, metav1.GetOptions{})
		cancel()
		if ctx.Err() != nil {
			return
		}
		t.observe(ctx, id, lease, err, time.Now())
	}, interval)
}

func (t *Tracker) observe(ctx context.Context, id string, lease *coordinationv1.Lease, err error, now time.Time) {
	t.mu.Lock()
	m, ok := t.members[id]
	if !ok { // forgotten while probing
		t.mu.Unlock()
		return
	}
	m.unreachable = err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err)
	switch {
	case err == nil:
		m.obs.LastReachable = now
		if lease.Spec.RenewTime != nil && !lease.Spec.RenewTime.Time.Equal(m.renewTime) {
			m.renewTime = lease.Spec.RenewTime.Time
			m.obs.Renewed = now
		}
		m.obs.LeaseDuration = t.ttl
		if d := lease.Spec.LeaseDurationSeconds; d != nil {
			m.obs.LeaseDuration = time.Duration(*d) * time.Second
		}
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		// The member answered but shows no heartbeat (none runs there, or the Lease may not
		// be read): only reachability counts.
		m.obs.LastReachable = now
		m.obs.Renewed, m.renewTime = time.Time{}, time.Time{}
	}
	stale := IsStale(m.obs, now, t.ttl)
	changed := stale != m.stale
	m.stale = stale
	t.mu.Unlock()
	if changed {
		klog.FromContext(ctx).Info("Member liveness changed", "member", id, "stale", stale, "probeError", err)
		t.onChange(id, stale)
	}
}
