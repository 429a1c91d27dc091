package clusterset

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func TestStripServiceImport(t *testing.T) {
	proto := "kubernetes.io/h2c"
	in := &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "web", ResourceVersion: "7", UID: "u",
			Labels:        map[string]string{"a": "b"},
			Annotations:   map[string]string{"c": "d"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "syncer"}},
		},
		Spec: mcs.ServiceImportSpec{
			Type:            mcs.ClusterSetIP,
			IPs:             []string{"10.0.0.1"},
			Ports:           []mcs.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, AppProtocol: &proto}},
			SessionAffinity: corev1.ServiceAffinityClientIP,
			IPFamilies:      []corev1.IPFamily{corev1.IPv4Protocol},
		},
		Status: mcs.ServiceImportStatus{Clusters: []mcs.ClusterStatus{{Cluster: "c1"}}},
	}
	want := &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "7"},
		Spec: mcs.ServiceImportSpec{
			Type:  mcs.ClusterSetIP,
			IPs:   []string{"10.0.0.1"},
			Ports: []mcs.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	got, err := stripServiceImport(in)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
}

func TestStripEndpointSlice(t *testing.T) {
	node, zoneName := "node-1", "z1"
	serving := true
	in := mcsSlice("ns", "db-c1", "db", "c1", discovery.AddressTypeIPv4,
		[]discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432)},
		discovery.Endpoint{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discovery.EndpointConditions{Ready: ready, Serving: &serving},
			Hostname:   new("db-0"),
			NodeName:   &node,
			Zone:       &zoneName,
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: "db-0"},
		})
	in.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "syncer"}}
	in.Annotations = map[string]string{"x": "y"}
	in.Labels["endpointslice.kubernetes.io/managed-by"] = "clusterset-syncer"

	want := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db-c1", Labels: map[string]string{
			mcs.LabelServiceName: "db", mcs.LabelSourceCluster: "c1",
		}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432)},
		Endpoints: []discovery.Endpoint{{
			Addresses:  []string{"10.0.0.1"},
			Conditions: discovery.EndpointConditions{Ready: ready},
			Hostname:   new("db-0"),
		}},
	}
	got, err := stripEndpointSlice(in)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
}

func TestMarkChangedCoalesces(t *testing.T) {
	s := &source{changed: make(chan struct{}, 1)}
	for range 100 {
		s.markChanged()
	}
	if n := len(s.changed); n != 1 {
		t.Fatalf("%d pending signals after a burst, want 1", n)
	}
	<-s.changed
	if n := len(s.changed); n != 0 {
		t.Fatalf("%d pending signals after one rebuild, want 0", n)
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
	expect("namespace of the import", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeSuccess)

	sl := mcsSlice("default", "db-c1", "db", "cluster-1", discovery.AddressTypeIPv4, nil,
		ep(ready, "db-0", "10.0.1.1"), ep(ready, "db-1", "10.0.1.2"))
	if _, err := kube.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("slice created", db, dns.TypeA, dns.RcodeSuccess, "10.0.1.1", "10.0.1.2")

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

	if err := mc.MulticlusterV1alpha1().ServiceImports("default").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("import deleted", "default.svc.clusterset.local.", dns.TypeA, dns.RcodeNameError)
}
