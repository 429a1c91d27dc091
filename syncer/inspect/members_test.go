package inspect

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		name                  string
		snaps                 []Snapshot
		stale, version, ready string // of the first member
		reachable             bool
		ageSeconds            float64 // of the first member's heartbeat; -1: none
		problems              []string
	}{
		{
			name:  "a healthy member with a syncer Deployment",
			snaps: []Snapshot{member("cluster-1", func(s *Snapshot) { s.Syncer = deployment(1, 1) })},
			stale: No, version: "v1.0.0", ready: "1/1", reachable: true, ageSeconds: 3,
		},
		{
			name:  "no Deployment and no version: unknown, said so",
			snaps: []Snapshot{member("cluster-1", func(s *Snapshot) { s.Heartbeat.Annotations = nil })},
			stale: No, version: Unknown, ready: "unknown (no syncer Deployment)", reachable: true, ageSeconds: 3,
		},
		{
			name:  "a heartbeat older than its duration is stale",
			snaps: []Snapshot{member("cluster-1", func(s *Snapshot) { s.Heartbeat = heartbeat("cluster-1", 61*time.Second, 60, "v1.0.0") })},
			stale: Yes, version: "v1.0.0", ready: "unknown (no syncer Deployment)", reachable: true, ageSeconds: 61,
			problems: []string{"cluster-1: stale: its syncer's heartbeat was renewed 1m1s ago, beyond its 60s"},
		},
		{
			name:  "no heartbeat: only reachability counts",
			snaps: []Snapshot{member("cluster-1", func(s *Snapshot) { s.Heartbeat = nil })},
			stale: No, version: Unknown, ready: "unknown (no syncer Deployment)", reachable: true, ageSeconds: -1,
			problems: []string{"cluster-1: no heartbeat Lease clusterset-syncer-heartbeat: no syncer runs there"},
		},
		{
			name:  "an unreachable member: everything unknown",
			snaps: []Snapshot{unreachable("ctx-3"), member("cluster-1")},
			stale: Unknown, version: Unknown, ready: Unknown, reachable: false, ageSeconds: -1,
			problems: []string{"ctx-3: unreachable: no answer within 2s"},
		},
		{
			name: "one cluster ID claimed twice, and another clusterset",
			snaps: []Snapshot{
				member("cluster-1"),
				member("cluster-1", func(s *Snapshot) { s.Member = "cluster-1-again" }),
				member("cluster-9", func(s *Snapshot) { s.ClusterSet = "other" }),
			},
			stale: No, version: "v1.0.0", ready: "unknown (no syncer Deployment)", reachable: true, ageSeconds: 3,
			problems: []string{
				"cluster ID cluster-1 is claimed by cluster-1 and cluster-1-again",
				`different clustersets: "clusterset-1" (2), "other" (1)`,
			},
		},
		{
			name:  "no cluster ID, and a read that failed",
			snaps: []Snapshot{member("", func(s *Snapshot) { s.Member = "ctx"; s.Errors = []string{"Deployment: forbidden"} })},
			stale: No, version: "v1.0.0", ready: "unknown (no syncer Deployment)", reachable: true, ageSeconds: 3,
			problems: []string{"ctx: no cluster ID", "ctx: Deployment: forbidden"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Members(tt.snaps, now)
			if len(r.Members) != len(tt.snaps) {
				t.Fatalf("%d members, want %d", len(r.Members), len(tt.snaps))
			}
			m := r.Members[0]
			if m.Stale != tt.stale || m.SyncerVersion != tt.version || m.SyncerReady != tt.ready || m.Reachable != tt.reachable {
				t.Errorf("stale %q version %q ready %q reachable %v, want %q %q %q %v",
					m.Stale, m.SyncerVersion, m.SyncerReady, m.Reachable, tt.stale, tt.version, tt.ready, tt.reachable)
			}
			switch {
			case tt.ageSeconds < 0 && m.Heartbeat != nil:
				t.Errorf("heartbeat %+v, want none", m.Heartbeat)
			case tt.ageSeconds >= 0 && (m.Heartbeat == nil || m.Heartbeat.AgeSeconds != tt.ageSeconds):
				t.Errorf("heartbeat %+v, want age %vs", m.Heartbeat, tt.ageSeconds)
			}
			if len(r.Problems) != len(tt.problems) {
				t.Errorf("problems %q, want %d", r.Problems, len(tt.problems))
			}
			for _, want := range tt.problems {
				if !slices.ContainsFunc(r.Problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("no problem contains %q: %q", want, r.Problems)
				}
			}
		})
	}
}
