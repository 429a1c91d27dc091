package liveness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestIsStale(t *testing.T) {
	now := time.Unix(10_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	const ttl = 10 * time.Second
	tests := []struct {
		name string
		obs  Observation
		want bool
	}{
		{"reachable, no lease", Observation{LastReachable: ago(time.Second)}, false},
		{"unreachable for the TTL exactly", Observation{LastReachable: ago(ttl)}, false},
		{"unreachable beyond the TTL", Observation{LastReachable: ago(ttl + time.Millisecond)}, true},
		{"lease renewed recently", Observation{LastReachable: ago(0), Renewed: ago(5 * time.Second), LeaseDuration: ttl}, false},
		{"lease expired", Observation{LastReachable: ago(0), Renewed: ago(11 * time.Second), LeaseDuration: ttl}, true},
		{"lease with a longer duration than the TTL", Observation{LastReachable: ago(0), Renewed: ago(20 * time.Second), LeaseDuration: 30 * time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsStale(tt.obs, now, ttl); got != tt.want {
				t.Errorf("IsStale = %v, want %v", got, tt.want)
			}
		})
	}
}

func lease(renew time.Time, seconds int32) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &r, LeaseDurationSeconds: ptr.To(seconds)}}
}

// TestTrackerTimesRenewalsOnItsOwnClock feeds probe results to a tracker and checks the
// transitions it reports.
func TestTrackerTimesRenewalsOnItsOwnClock(t *testing.T) {
	var changes []bool
	tr := NewTracker("ns", 10*time.Second, func(id string, stale bool) {
		if id != "c1" {
			t.Errorf("change for %q", id)
		}
		changes = append(changes, stale)
	})
	start := time.Unix(50_000, 0)
	tr.members["c1"] = &member{obs: Observation{LastReachable: start}}
	memberClock := time.Unix(1, 0) // far off the tracker's clock: skew must not matter
	unreachable := errors.New("connection refused")
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LeaseName)
	steps := []struct {
		at    time.Duration
		lease *coordinationv1.Lease
		err   error
		stale bool
	}{
		{at: 1 * time.Second, lease: lease(memberClock, 10)},
		{at: 8 * time.Second, lease: lease(memberClock.Add(5*time.Second), 10)},
		{at: 17 * time.Second, lease: lease(memberClock.Add(5*time.Second), 10)}, // not renewed for 9 s
		{at: 19 * time.Second, lease: lease(memberClock.Add(5*time.Second), 10), stale: true},
		{at: 20 * time.Second, lease: lease(memberClock.Add(20*time.Second), 10)}, // renewed again
		{at: 25 * time.Second, err: unreachable},
		{at: 31 * time.Second, err: unreachable, stale: true}, // unreachable since 20 s
		{at: 32 * time.Second, err: notFound},                 // back, without a syncer
		{at: 60 * time.Second, err: notFound},
	}
	for i, s := range steps {
		tr.observe(context.Background(), "c1", s.lease, s.err, start.Add(s.at))
		if got := tr.Stale("c1"); got != s.stale {
			t.Fatalf("step %d (t=%v): Stale = %v, want %v", i, s.at, got, s.stale)
		}
		if got, want := tr.Reachable("c1"), s.err != unreachable; got != want {
			t.Fatalf("step %d (t=%v): Reachable = %v, want %v", i, s.at, got, want)
		}
	}
	if want := []bool{true, false, true, false}; fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("changes = %v, want %v", changes, want)
	}
	if tr.Stale("unknown") || !tr.Reachable("unknown") {
		t.Errorf("an unknown member is stale or unreachable")
	}
}

func TestTrackerForget(t *testing.T) {
	var changes []string
	tr := NewTracker("ns", time.Second, func(id string, stale bool) { changes = append(changes, fmt.Sprintf("%s %v", id, stale)) })
	tr.members["gone"] = &member{stale: true}
	tr.members["fresh"] = &member{}
	tr.Forget("gone")
	tr.Forget("fresh")
	tr.Forget("never")
	if tr.Stale("gone") || tr.StaleCount() != 0 || len(tr.members) != 0 {
		t.Errorf("after Forget: stale %v, count %d, members %d", tr.Stale("gone"), tr.StaleCount(), len(tr.members))
	}
	if want := []string{"gone false"}; !slices.Equal(changes, want) {
		t.Errorf("onChange calls %v, want %v", changes, want)
	}
	// A probe finishing after Forget records nothing.
	tr.observe(context.Background(), "gone", nil, errors.New("late"), time.Now())
	if len(tr.members) != 0 {
		t.Error("a late probe re-created a forgotten member")
	}
}
