package recentwrites

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

const byApp = "byApp"

func svc(name, uid, rv, app string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{
		Namespace: "ns", Name: name, UID: types.UID(uid), ResourceVersion: rv, Labels: map[string]string{"app": app},
	}}
}

func newStore(cached ...*corev1.Service) (*Store[*corev1.Service], cache.Indexer, *time.Time) {
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{byApp: func(obj any) ([]string, error) {
		return []string{obj.(*corev1.Service).Labels["app"]}, nil
	}})
	for _, c := range cached {
		_ = indexer.Add(c)
	}
	s := New[*corev1.Service](indexer, time.Minute)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	return s, indexer, &now
}

// describe is what Get returns, as "uid@rv" or "absent".
func describe(s *corev1.Service, ok bool) string {
	if !ok {
		return "absent"
	}
	return string(s.UID) + "@" + s.ResourceVersion
}

func TestGet(t *testing.T) {
	tests := []struct {
		name   string
		cached *corev1.Service // in the informer
		write  *corev1.Service // own create/update
		delete *corev1.Service // own delete
		later  time.Duration   // time passing before Get
		want   string
	}{
		{name: "nothing", want: "absent"},
		{name: "cache only", cached: svc("a", "u1", "5", "x"), want: "u1@5"},
		{name: "own create not yet seen", write: svc("a", "u1", "5", "x"), want: "u1@5"},
		{name: "own update newer than cache", cached: svc("a", "u1", "5", "x"), write: svc("a", "u1", "7", "x"), want: "u1@7"},
		{name: "cache caught up", cached: svc("a", "u1", "7", "x"), write: svc("a", "u1", "7", "x"), want: "u1@7"},
		{name: "cache newer than own write", cached: svc("a", "u1", "9", "x"), write: svc("a", "u1", "7", "x"), want: "u1@9"},
		{name: "own delete not yet seen", cached: svc("a", "u1", "5", "x"), delete: svc("a", "u1", "5", "x"), want: "absent"},
		{name: "recreated by someone after own delete", cached: svc("a", "u2", "8", "x"), delete: svc("a", "u1", "5", "x"), want: "u2@8"},
		{name: "own write expired", cached: svc("a", "u1", "5", "x"), write: svc("a", "u1", "7", "x"), later: 2 * time.Minute, want: "u1@5"},
		{name: "own delete expired", cached: svc("a", "u1", "5", "x"), delete: svc("a", "u1", "5", "x"), later: 2 * time.Minute, want: "u1@5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cached []*corev1.Service
			if tt.cached != nil {
				cached = append(cached, tt.cached)
			}
			s, _, now := newStore(cached...)
			if tt.write != nil {
				s.Wrote(tt.write)
			}
			if tt.delete != nil {
				s.Deleted(tt.delete)
			}
			*now = now.Add(tt.later)
			if got := describe(s.Get("ns/a")); got != tt.want {
				t.Errorf("Get = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestByIndexIncludesOwnCreatesAndHidesOwnDeletes(t *testing.T) {
	s, _, _ := newStore(svc("a", "ua", "1", "x"), svc("b", "ub", "2", "x"), svc("c", "uc", "3", "y"))
	s.Deleted(svc("b", "ub", "2", "x"))
	s.Wrote(svc("d", "ud", "4", "x")) // created, not yet seen
	s.Wrote(svc("e", "ue", "5", "y")) // created, other index value
	s.Wrote(svc("a", "ua", "6", "x")) // updated
	got := map[string]string{}
	for _, o := range s.ByIndex(byApp, "x") {
		got[o.Name] = describe(o, true)
	}
	want := map[string]string{"a": "ua@6", "d": "ud@4"}
	if len(got) != len(want) || got["a"] != want["a"] || got["d"] != want["d"] {
		t.Errorf("ByIndex = %v, want %v", got, want)
	}
}

// TestByIndexFollowsOwnWrites: the index of own writes follows an own update that moves an
// object to another index value, an own delete, expiry and the informer catching up.
func TestByIndexFollowsOwnWrites(t *testing.T) {
	names := func(objs []*corev1.Service) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.Name)
		}
		slices.Sort(out)
		return out
	}
	s, indexer, now := newStore()
	s.Wrote(svc("a", "ua", "1", "x"))
	s.Wrote(svc("b", "ub", "2", "x"))
	s.Wrote(svc("a", "ua", "3", "y")) // moved from x to y
	if x, y := names(s.ByIndex(byApp, "x")), names(s.ByIndex(byApp, "y")); !slices.Equal(x, []string{"b"}) || !slices.Equal(y, []string{"a"}) {
		t.Errorf("after a move: x %v, y %v; want [b], [a]", x, y)
	}
	s.Deleted(svc("b", "ub", "2", "x"))
	if x := names(s.ByIndex(byApp, "x")); len(x) != 0 {
		t.Errorf("after an own delete never cached: x %v, want none", x)
	}
	caughtUp := svc("a", "ua", "3", "y")
	_ = indexer.Add(caughtUp)
	s.Observe(caughtUp, false)
	if y := names(s.ByIndex(byApp, "y")); !slices.Equal(y, []string{"a"}) || len(s.pending[byApp]["y"]) != 0 {
		t.Errorf("after the informer caught up: y %v, %d pending; want [a] from the cache, 0", y, len(s.pending[byApp]["y"]))
	}
	s.Wrote(svc("c", "uc", "4", "z"))
	*now = now.Add(2 * time.Minute)
	if z := names(s.ByIndex(byApp, "z")); len(z) != 0 || len(s.pending[byApp]) != 0 {
		t.Errorf("after expiry: z %v, pending %v; want none", z, s.pending[byApp])
	}
}

func TestObserve(t *testing.T) {
	s, _, _ := newStore()
	created := svc("a", "u1", "5", "x")
	s.Wrote(created)
	if own := s.Observe(svc("a", "u1", "4", "x"), false); !own || s.Len() != 1 {
		t.Fatalf("an older state of the own write: own=%v, %d entries; want true, 1", own, s.Len())
	}
	if own := s.Observe(svc("a", "u2", "4", "x"), false); own || s.Len() != 1 {
		t.Fatalf("an older event of another object: own=%v, %d entries; want false, 1", own, s.Len())
	}
	if own := s.Observe(created, false); !own || s.Len() != 0 {
		t.Errorf("the echo of the own write: own=%v, %d entries; want true, 0", own, s.Len())
	}

	s.Wrote(svc("a", "u1", "7", "x"))
	if own := s.Observe(svc("a", "u1", "8", "x"), false); own || s.Len() != 0 {
		t.Errorf("someone else's newer update: own=%v, %d entries; want false, 0", own, s.Len())
	}

	s.Deleted(created)
	if own := s.Observe(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: created}, true); !own || s.Len() != 0 {
		t.Errorf("the own delete: own=%v, %d entries; want true, 0", own, s.Len())
	}
	s.Wrote(created)
	if own := s.Observe(created, true); own || s.Len() != 0 {
		t.Errorf("someone deleting the own creation: own=%v, %d entries; want false, 0", own, s.Len())
	}
}
