package inspect

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	"github.com/clusterset/clusterset/syncer/liveness"
)

// Tri-state answers of the reports: what cannot be known is said to be unknown.
const (
	Yes     = "yes"
	No      = "no"
	Unknown = "unknown"
)

// MembersReport is the state of every member and its syncer.
type MembersReport struct {
	Members  []MemberStatus `json:"members"`
	Problems []string       `json:"problems,omitempty"`
}

// MemberStatus is one member as seen from here.
type MemberStatus struct {
	// Member is the kubeconfig context or file it was read through.
	Member     string `json:"member"`
	ClusterID  string `json:"clusterID,omitempty"`
	ClusterSet string `json:"clusterSet,omitempty"`
	Reachable  bool   `json:"reachable"`
	// Error says why it could not be read.
	Error     string     `json:"error,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// Stale is yes when the heartbeat Lease has not been renewed within its duration (the
	// syncers then withdraw the member's endpoints), no when it has or there is no heartbeat
	// (a hub-mode member), unknown when it could not be read.
	Stale string `json:"stale"`
	// SyncerVersion is what the heartbeat Lease says, or unknown.
	SyncerVersion string `json:"syncerVersion"`
	// SyncerReady is the syncer Deployment's ready replicas ("1/1"), or unknown with why.
	SyncerReady string `json:"syncerReady"`
}

// Heartbeat is the member's heartbeat Lease.
type Heartbeat struct {
	Holder  string    `json:"holder,omitempty"`
	Renewed time.Time `json:"renewed"`
	// AgeSeconds is how long ago it was renewed, on this machine's clock.
	AgeSeconds      float64 `json:"ageSeconds"`
	DurationSeconds int32   `json:"durationSeconds"`
}

// Age is the heartbeat's age as a duration.
func (h *Heartbeat) Age() time.Duration { return time.Duration(h.AgeSeconds * float64(time.Second)) }

// Members reports every member at now.
func Members(snaps []Snapshot, now time.Time) MembersReport {
	var r MembersReport
	for i := range snaps {
		s := &snaps[i]
		m := MemberStatus{
			Member: s.Member, ClusterID: s.ClusterID, ClusterSet: s.ClusterSet, Reachable: s.Reachable(), Error: s.Unreachable,
			Stale: Unknown, SyncerVersion: Unknown, SyncerReady: Unknown,
		}
		if !s.Reachable() {
			r.Members = append(r.Members, m)
			r.Problems = append(r.Problems, fmt.Sprintf("%s: unreachable: %s", s.Label(), s.Unreachable))
			continue
		}
		m.Heartbeat = heartbeatOf(s, now)
		stale, why := staleness(s, now)
		m.Stale = stale
		if why != "" {
			r.Problems = append(r.Problems, s.Label()+": "+why)
		}
		if v := s.heartbeatVersion(); v != "" {
			m.SyncerVersion = v
		}
		m.SyncerReady = syncerReady(s)
		if s.ClusterID == "" {
			r.Problems = append(r.Problems, s.Member+": no cluster ID (ClusterProperty cluster.clusterset.k8s.io): the syncers refuse it")
		}
		for _, e := range s.Errors {
			r.Problems = append(r.Problems, s.Label()+": "+e)
		}
		r.Members = append(r.Members, m)
	}
	r.Problems = append(r.Problems, membershipProblems(snaps)...)
	return r
}

// heartbeatOf reads the heartbeat Lease; nil when there is none or it was never renewed.
func heartbeatOf(s *Snapshot, now time.Time) *Heartbeat {
	l := s.Heartbeat
	if l == nil || l.Spec.RenewTime == nil {
		return nil
	}
	return &Heartbeat{
		Holder:          ptr.Deref(l.Spec.HolderIdentity, ""),
		Renewed:         l.Spec.RenewTime.Time,
		AgeSeconds:      now.Sub(l.Spec.RenewTime.Time).Seconds(),
		DurationSeconds: ptr.Deref(l.Spec.LeaseDurationSeconds, 0),
	}
}

func (s *Snapshot) heartbeatVersion() string {
	if s.Heartbeat == nil {
		return ""
	}
	return s.Heartbeat.Annotations[liveness.VersionAnnotation]
}

// staleness applies the syncers' rule (a Lease not renewed within its duration) on this
// machine's clock, and says why when the member is stale or has no heartbeat.
func staleness(s *Snapshot, now time.Time) (stale, why string) {
	h := heartbeatOf(s, now)
	switch {
	case !s.Reachable():
		return Unknown, ""
	case h == nil:
		return No, fmt.Sprintf("no heartbeat Lease %s: no syncer runs there (as in hub mode), so only reachability counts", liveness.LeaseName)
	case h.Age() > time.Duration(h.DurationSeconds)*time.Second:
		return Yes, fmt.Sprintf("stale: its syncer's heartbeat was renewed %s ago, beyond its %ds; the syncers withdraw its endpoints everywhere",
			h.Age().Round(100*time.Millisecond), h.DurationSeconds)
	}
	return No, ""
}

func syncerReady(s *Snapshot) string {
	d := s.Syncer
	if d == nil {
		return Unknown + " (no syncer Deployment)"
	}
	return fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, ptr.Deref(d.Spec.Replicas, 1))
}

// membershipProblems finds members the syncers would refuse or confuse: another clusterset
// than most, or a cluster ID claimed twice.
func membershipProblems(snaps []Snapshot) []string {
	var out []string
	byID := map[string][]string{}
	sets := map[string]int{}
	for _, s := range snaps {
		if !s.Reachable() {
			continue
		}
		if s.ClusterID != "" {
			byID[s.ClusterID] = append(byID[s.ClusterID], s.Member)
		}
		sets[s.ClusterSet]++
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		if names := byID[id]; len(names) > 1 {
			out = append(out, fmt.Sprintf("cluster ID %s is claimed by %s: the syncers admit only the first", id, strings.Join(names, " and ")))
		}
	}
	if len(sets) > 1 {
		var parts []string
		for _, set := range slices.Sorted(maps.Keys(sets)) {
			parts = append(parts, fmt.Sprintf("%q (%d)", cmp.Or(set, "none"), sets[set]))
		}
		out = append(out, "the members belong to different clustersets: "+strings.Join(parts, ", ")+"; a syncer syncs only with its own")
	}
	return out
}
