package clusterset

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func TestSourceCachesOnlyMCSSlices(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	src, _, _ := startPlugin(t, cs, clustersetObjects()...)
	keys := src.slices.ListKeys()
	slices.Sort(keys)
	want := []string{"default/db-c1", "default/db-c2", "default/db-c2-v6", "default/idle-c1"}
	if !slices.Equal(keys, want) {
		t.Errorf("cached slices %v, want %v", keys, want)
	}
}

func TestToCachedImport(t *testing.T) {
	proto := "kubernetes.io/h2c"
	in := &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web", ResourceVersion: "7", UID: "u",
			Labels:        map[string]string{"a": "b"},
			Annotations:   map[string]string{"c": "d"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "syncer"}},
		},
		Spec: mcs.ServiceImportSpec{
			Type: mcs.ClusterSetIP,
			IPs:  []string{"10.0.0.1", "bad", "fd00::1"},
			Ports: []mcs.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, AppProtocol: &proto},
				{Protocol: corev1.ProtocolTCP, Port: 81},
			},
			SessionAffinity: corev1.ServiceAffinityClientIP,
		},
		Status: mcs.ServiceImportStatus{Clusters: []mcs.ClusterStatus{{Cluster: "c1"}}},
	}
	want := &cachedImport{
		cachedMeta: cachedMeta{namespace: "ns", name: "web", resourceVersion: "7"},
		ips:        []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
		ports:      []port{{"http", "tcp", 80}, {"", "tcp", 81}},
	}
	got, err := toCachedImport(in)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	if got, _ := toCachedImport(cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: want}); !reflect.DeepEqual(got, cache.DeletedFinalStateUnknown{Key: "ns/web", Obj: want}) {
		t.Errorf("tombstone changed: %v", got)
	}
}

func TestToCachedSlice(t *testing.T) {
	node, zoneName := "node-1", "z1"
	serving := true
	in := mcsSlice("ns", "db-c1", "db", "c1", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432), slicePort("", corev1.ProtocolTCP, 1)},
		discovery.Endpoint{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discovery.EndpointConditions{Ready: ready, Serving: &serving},
			Hostname:   new("db-0"),
			NodeName:   &node,
			Zone:       &zoneName,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "db-0"},
		},
		ep(notReady, "db-1", "10.0.0.2"),
		ep(unknown, "Not_A_Label", "10.0.0.3"),
		ep(ready, "", "not-an-ip"))
	in.ResourceVersion = "9"
	in.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "syncer"}}
	in.Annotations = map[string]string{"x": "y"}

	want := &cachedSlice{
		cachedMeta: cachedMeta{namespace: "ns", name: "db-c1", resourceVersion: "9"},
		service:    "db",
		cluster:    "c1",
		ports:      []port{{"pg", "tcp", 5432}, {"", "tcp", 1}},
		endpoints: []cachedEndpoint{
			{addr: netip.MustParseAddr("10.0.0.1"), hostname: "db-0"},
			{addr: netip.MustParseAddr("10.0.0.3")},
		},
	}
	got, err := toCachedSlice(in)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	if key := sliceImportKey(got); key != "ns/db" {
		t.Errorf("import key %q", key)
	}
}

// A burst of events leaves one signal and the set of touched imports; taking them clears both.
func TestMarkChangedCoalesces(t *testing.T) {
	s := &source{dirty: map[string]struct{}{}, changed: make(chan struct{}, 1)}
	for i := range 100 {
		s.markChanged(fmt.Sprintf("ns/svc-%d", i%3), "")
	}
	if n := len(s.changed); n != 1 {
		t.Fatalf("%d pending signals after a burst, want 1", n)
	}
	s.mu.Lock()
	dirty := slices.Sorted(maps.Keys(s.dirty))
	s.mu.Unlock()
	if want := []string{"ns/svc-0", "ns/svc-1", "ns/svc-2"}; !slices.Equal(dirty, want) {
		t.Errorf("dirty %v, want %v", dirty, want)
	}
}

// Changes in the API reach the answers without a restart.
func TestUpdatesReachAnswers(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	_, kube, mc := startPlugin(t, cs)
	ctx := context.Background()
	answers := func(name string, qtype uint16) (int, []string) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		resp := serve(t, cs, m, &test.ResponseWriter{}, dns.RcodeSuccess)
		var out []string
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				out = append(out, rr.A.String())
			case *dns.AAAA:
				out = append(out, rr.AAAA.String())
			}
		}
		slices.Sort(out)
		return resp.Rcode, out
	}
	expect := func(what, name string, qtype uint16, rcode int, addrs ...string) {
		t.Helper()
		waitFor(t, what, func() bool {
			gotRcode, got := answers(name, qtype)
			return gotRcode == rcode && slices.Equal(got, addrs)
		})
	}
	const db = "db.default.svc.clusterset.local."
	expect("empty zone", db, dns.TypeA, dns.RcodeNameError)

	if _, err := mc.MulticlusterV1alpha1().ServiceImports("default").Create(ctx, headless("default", "db"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("import without endpoints", db, dns.TypeA, dns.RcodeNameError)
	// A namespace exists while a name in it does (RFC 8020): not for an empty headless import.
	expect("namespace of an import without names", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError)

	sl := mcsSlice("default", "db-c1", "db", "cluster-1", discovery.AddressTypeIPv4, nil,
		ep(ready, "db-0", "10.0.1.1"), ep(ready, "db-1", "10.0.1.2"))
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("slice created", db, dns.TypeA, dns.RcodeSuccess, "10.0.1.1", "10.0.1.2")
	expect("namespace of the import", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess)

	sl.Endpoints[1].Conditions.Ready = notReady
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("endpoint not ready", db, dns.TypeA, dns.RcodeSuccess, "10.0.1.1")
	expect("per-endpoint name gone", "db-1.cluster-1."+db, dns.TypeA, dns.RcodeNameError)

	if err := kube.DiscoveryV1().EndpointSlices("default").Delete(ctx, "db-c1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("slice deleted", db, dns.TypeA, dns.RcodeNameError)
	expect("namespace without names", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError)

	sl.ResourceVersion = ""
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("slice created again", db, dns.TypeA, dns.RcodeSuccess, "10.0.1.1")

	if err := mc.MulticlusterV1alpha1().ServiceImports("default").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("import deleted", db, dns.TypeA, dns.RcodeNameError)
	expect("namespace of the deleted import", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError)
}

// Updates that change nothing DNS answers from (a label, a not-ready endpoint's hostname, a
// rewrite of the same object) neither rebuild the index nor bump the SOA serial; real changes do.
func TestNoOpUpdatesDoNotRebuild(t *testing.T) {
	kube, mc := fakeClients(clustersetObjects()...)
	src := newSource(kube, mc)
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	var mu sync.Mutex
	var rebuilt []string // the imports of every update after the first
	first := true
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.run(ctx, func(changed map[string]*service) {
		mu.Lock()
		if !first {
			rebuilt = append(rebuilt, slices.Sorted(maps.Keys(changed))...)
		}
		first = false
		mu.Unlock()
		cs.update(changed)
	})
	waitFor(t, "plugin ready", cs.Ready)
	serial := cs.snapshot.Load().serial
	time.Sleep(1100 * time.Millisecond) // a rebuild now would get a new serial from the clock

	imports := mc.MulticlusterV1alpha1().ServiceImports("default")
	web, err := imports.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Labels = map[string]string{"touched": "yes"}
	web.ResourceVersion = "77"
	if _, err := imports.Update(ctx, web, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	slicesAPI := kube.DiscoveryV1().EndpointSlices("default")
	c1, err := slicesAPI.Get(ctx, "db-c1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c1.Annotations = map[string]string{"touched": "yes"}
	c1.Endpoints[2].Hostname = new("renamed-but-not-ready")
	if _, err := slicesAPI.Update(ctx, c1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Real changes after the no-ops, through the same informers: once they show, the no-ops
	// have been handled.
	other, err := imports.Get(ctx, "noslices", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other.Spec.Type = mcs.ClusterSetIP
	other.Spec.IPs = []string{"10.3.0.1"}
	if _, err := imports.Update(ctx, other, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	idle, err := slicesAPI.Get(ctx, "idle-c1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idle.Endpoints[0].Conditions.Ready = ready
	if _, err := slicesAPI.Update(ctx, idle, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both real changes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(rebuilt, "noslices.default") && slices.Contains(rebuilt, "idle.default")
	})
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(rebuilt, "web.default") || slices.Contains(rebuilt, "db.default") {
		t.Errorf("no-op updates were re-indexed: %v", rebuilt)
	}
	if s := cs.snapshot.Load().serial; s == serial {
		t.Errorf("serial %d did not change with the real changes", s)
	}
}
