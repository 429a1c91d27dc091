package clusterset

import (
	"reflect"
	"sync"
	"testing"

	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
)

// An update leaves the previous snapshot intact, shares every shard it did not touch, and keeps
// the counters of imports, endpoints and namespaces.
func TestUpdateIsCopyOnWrite(t *testing.T) {
	all := changes(clustersetObjects()...)
	first := (*snapshot)(nil).update([]string{zone}, defaultTTL, 1, all)
	if first.imports != 5 || first.endpoints != 4 || first.namespaces[0]["default"] != 2 || first.namespaces[0]["other"] != 1 {
		t.Fatalf("first: %d imports, %d endpoints, namespaces %v", first.imports, first.endpoints, first.namespaces)
	}

	// db loses its cluster-2 endpoints; other/web goes away.
	db := changes(headless("default", "db"), mcsSlice("default", "db-c1", "db", "cluster-1", discovery.AddressTypeIPv4, nil,
		ep(ready, "db-0", "10.0.1.1")))["db.default"]
	second := first.update([]string{zone}, defaultTTL, 2, map[string]*service{"db.default": db, "web.other": nil})

	if second.imports != 4 || second.endpoints != 1 || second.namespaces[0]["other"] != 0 {
		t.Errorf("second: %d imports, %d endpoints, namespaces %v", second.imports, second.endpoints, second.namespaces)
	}
	touched := map[int]bool{shardOf("db.default"): true, shardOf("web.other"): true}
	for i := range shardCount {
		same := reflect.ValueOf(first.shards[i]).Pointer() == reflect.ValueOf(second.shards[i]).Pointer()
		if same == touched[i] {
			t.Errorf("shard %d: shared %t, touched %t", i, same, touched[i])
		}
	}
	for _, tc := range []struct {
		snap *snapshot
		rel  string
		want bool
	}{
		{first, "db-0.cluster-2.db.default.svc.", true},
		{first, "web.other.svc.", true},
		{first, "other.svc.", true},
		{second, "db-0.cluster-2.db.default.svc.", false},
		{second, "db-0.cluster-1.db.default.svc.", true},
		{second, "web.other.svc.", false},
		{second, "other.svc.", false},
		{second, "web.default.svc.", true},
	} {
		if got := tc.snap.lookup(0, tc.rel, dns.TypeA) != nil; got != tc.want {
			t.Errorf("serial %d: %s exists = %t, want %t", tc.snap.serial, tc.rel, got, tc.want)
		}
	}
}

func TestShardOfSpreads(t *testing.T) {
	used := map[int]bool{}
	for _, svc := range changes(benchObjects(200)...) {
		used[shardOf(svc.name+"."+svc.namespace)] = true
	}
	if len(used) < shardCount/2 {
		t.Errorf("200 imports fall into %d of %d shards", len(used), shardCount)
	}
}

// Per-endpoint and SRV names are built by their first query, once however many queries race to
// it, and queries after it allocate nothing.
func TestLazyNamesBuiltOnce(t *testing.T) {
	for _, q := range []struct {
		rel   string
		qtype uint16
	}{
		{"db-0.cluster-1.db.default.svc.", dns.TypeA},
		{"_pg._tcp.db.default.svc.", dns.TypeSRV},
		{"db.default.svc.", dns.TypeSRV},
		{"_http._tcp.web.default.svc.", dns.TypeSRV},
	} {
		snap := (*snapshot)(nil).update([]string{zone}, defaultTTL, 1, changes(clustersetObjects()...))
		got := make([]*node, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i] = snap.lookup(0, q.rel, q.qtype) })
		}
		wg.Wait()
		if got[0] == nil {
			t.Fatalf("%s: not found", q.rel)
		}
		for _, n := range got[1:] {
			if n != got[0] {
				t.Errorf("%s: concurrent first queries got different nodes", q.rel)
			}
		}
		if rrs, _ := got[0].records(q.qtype); len(rrs) == 0 {
			t.Errorf("%s: no records", q.rel)
		}
		if a := testing.AllocsPerRun(100, func() { snap.lookup(0, q.rel, q.qtype) }); a != 0 {
			t.Errorf("%s: %.0f allocations per lookup after the first", q.rel, a)
		}
	}
}
