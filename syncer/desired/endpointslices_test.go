package desired

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

var base = DerivedServiceName("web") // derived-<h> of the test export "web"

// ipv4s returns n ready endpoints 10.x.y.z, in reverse order.
func ipv4s(cluster, n int) []discoveryv1.Endpoint {
	var eps []discoveryv1.Endpoint
	for i := n - 1; i >= 0; i-- {
		eps = append(eps, podEndpoint(fmt.Sprintf("10.%d.%d.%d", cluster, i/250, i%250+1), fmt.Sprintf("pod-%d", i)))
	}
	return eps
}

func sliceNames(sl []*discoveryv1.EndpointSlice) []string {
	var names []string
	for _, s := range sl {
		names = append(names, fmt.Sprintf("%s(%s,%d)", s.Name, s.AddressType, len(s.Endpoints)))
	}
	return names
}

func TestEndpointSliceContent(t *testing.T) {
	ready := podEndpoint("10.1.0.2", "web-b")
	ready.Hostname = ptrTo("web-b")
	terminating := podEndpoint("10.1.0.1", "web-a")
	terminating.Conditions = discoveryv1.EndpointConditions{Ready: ptrTo(false), Serving: ptrTo(true), Terminating: ptrTo(true)}
	terminating.Hints = &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-a"}}}
	src := sourceSlice("web-abcde", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{endpointPort("http", 8080)}, ready, terminating)
	exports := []ClusterExport{clusterExport("cluster-1", 0, newService(), withSlices(src))}
	s, _ := Merge("default", "web", exports)

	got := mirror(s, exports, 0)
	endpoint := func(ip, pod string, hostname *string, cond discoveryv1.EndpointConditions) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{
			Addresses: []string{ip}, Conditions: cond, Hostname: hostname, NodeName: ptrTo("node-1"), Zone: ptrTo("zone-a"),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod)},
		}
	}
	want := []*discoveryv1.EndpointSlice{{
		ObjectMeta: metav1.ObjectMeta{
			Name: base + "-cluster-1", Namespace: "default",
			Labels: map[string]string{
				"kubernetes.io/service-name":                base,
				"multicluster.kubernetes.io/service-name":   "web",
				"multicluster.kubernetes.io/source-cluster": "cluster-1",
				"endpointslice.kubernetes.io/managed-by":    "clusterset-syncer",
			},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{endpointPort("http", 8080)},
		Endpoints: []discoveryv1.Endpoint{
			endpoint("10.1.0.1", "web-a", nil, terminating.Conditions),
			endpoint("10.1.0.2", "web-b", ptrTo("web-b"), ready.Conditions),
		},
	}}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("EndpointSlices =\n%+v\nwant\n%+v", got, want)
	}
}

func TestEndpointSliceGrouping(t *testing.T) {
	http := []discoveryv1.EndpointPort{endpointPort("http", 8080)}
	v6 := func(ip, pod string) discoveryv1.Endpoint { return podEndpoint(ip, pod) }
	managed := sourceSlice("web-ours", discoveryv1.AddressTypeIPv4, http, ipv4s(9, 3)...)
	managed.Labels[discoveryv1.LabelManagedBy] = ManagerName
	tests := []struct {
		name    string
		max     int
		exports []ClusterExport
		want    []string // name(addressType,endpoints)
	}{
		{"one slice per cluster", 0, []ClusterExport{
			clusterExport("cluster-2", 1, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(2, 3)...))),
			clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("b", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 2)...))),
		}, []string{base + "-cluster-1(IPv4,2)", base + "-cluster-2(IPv4,3)"}},
		{"withdrawn, missing Service and empty slices contribute nothing", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 2)...))),
			clusterExport("cluster-2", 1, newService(), withdrawn(), withSlices(sourceSlice("b", discoveryv1.AddressTypeIPv4, http, ipv4s(2, 2)...))),
			clusterExport("cluster-3", 2, nil, withSlices(sourceSlice("c", discoveryv1.AddressTypeIPv4, http, ipv4s(3, 2)...))),
			clusterExport("cluster-4", 3, newService(), withSlices(sourceSlice("d", discoveryv1.AddressTypeIPv4, nil))),
		}, []string{base + "-cluster-1(IPv4,2)"}},
		{"managed and FQDN source slices are ignored", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(managed,
				sourceSlice("fqdn", discoveryv1.AddressTypeFQDN, http, discoveryv1.Endpoint{Addresses: []string{"example.com"}}),
				sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 1)...))),
		}, []string{base + "-cluster-1(IPv4,1)"}},
		{"several source slices of a group merge, duplicates dropped", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(
				sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 60)...),
				sourceSlice("b", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 30)...),
				sourceSlice("c", discoveryv1.AddressTypeIPv4, http, ipv4s(3, 30)...))),
		}, []string{base + "-cluster-1(IPv4,90)"}},
		{"dual stack, IPv4 primary", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(withFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol)), withSlices(
				sourceSlice("a6", discoveryv1.AddressTypeIPv6, http, v6("fd00::1", "p1"), v6("fd00::2", "p2")),
				sourceSlice("a4", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 2)...))),
		}, []string{base + "-cluster-1(IPv4,2)", base + "-cluster-1.ipv6(IPv6,2)"}},
		{"dual stack, IPv6 primary", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(withFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol)), withSlices(
				sourceSlice("a4", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 2)...),
				sourceSlice("a6", discoveryv1.AddressTypeIPv6, http, v6("fd00::1", "p1")))),
		}, []string{base + "-cluster-1(IPv6,1)", base + "-cluster-1.ipv4(IPv4,2)"}},
		{"more than 1000 endpoints split in address order", 1000, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 2500)...))),
		}, []string{base + "-cluster-1(IPv4,1000)", base + "-cluster-1.2(IPv4,1000)", base + "-cluster-1.3(IPv4,500)"}},
		{"limit above 1000 is capped", 5000, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 1001)...))),
		}, []string{base + "-cluster-1(IPv4,1000)", base + "-cluster-1.2(IPv4,1)"}},
		{"default limit is 100", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, http, ipv4s(1, 101)...))),
		}, []string{base + "-cluster-1(IPv4,100)", base + "-cluster-1.2(IPv4,1)"}},
		{"headless without ports", 0, []ClusterExport{
			clusterExport("cluster-1", 0, newService(headless(), withPorts()), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, nil, ipv4s(1, 2)...))),
		}, []string{base + "-cluster-1(IPv4,2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Merge("default", "web", tt.exports)
			got := mirror(s, tt.exports, tt.max)
			if !slices.Equal(sliceNames(got), tt.want) {
				t.Errorf("slices %v, want %v", sliceNames(got), tt.want)
			}
			// Per cluster and family, the slices in name order hold strictly
			// increasing addresses: sorted, split without overlap, no duplicates.
			last := map[string][]string{}
			for _, sl := range got {
				group := sl.Labels[mcsv1alpha1.LabelSourceCluster] + "/" + string(sl.AddressType)
				for _, ep := range sl.Endpoints {
					if prev, ok := last[group]; ok && slices.Compare(prev, ep.Addresses) >= 0 {
						t.Fatalf("%s: %v after %v", sl.Name, ep.Addresses, prev)
					}
					last[group] = ep.Addresses
				}
			}
		})
	}
}

func TestEndpointSlicePortSets(t *testing.T) {
	// While a Deployment changes its target port, one Service has slices with two port sets.
	old := []discoveryv1.EndpointPort{endpointPort("http", 8080)}
	updated := []discoveryv1.EndpointPort{endpointPort("http", 9090)}
	exports := []ClusterExport{clusterExport("cluster-1", 0, newService(), withSlices(
		sourceSlice("a", discoveryv1.AddressTypeIPv4, old, ipv4s(1, 3)...),
		sourceSlice("b", discoveryv1.AddressTypeIPv4, updated, podEndpoint("10.1.9.1", "new")),
	))}
	s, _ := Merge("default", "web", exports)
	got := mirror(s, exports, 0)
	if len(got) != 2 || got[0].Name != base+"-cluster-1" || *got[0].Ports[0].Port != 8080 {
		t.Fatalf("main slice: %v", sliceNames(got))
	}
	if !regexp.MustCompile(`^`+base+`-cluster-1\.p[0-9a-f]{8}$`).MatchString(got[1].Name) || *got[1].Ports[0].Port != 9090 {
		t.Errorf("second port set: %v", sliceNames(got))
	}
	// Once the new port set has most endpoints it becomes the main one.
	exports[0].Slices = append(exports[0].Slices, sourceSlice("c", discoveryv1.AddressTypeIPv4, updated, ipv4s(2, 5)...))
	got = mirror(s, exports, 0)
	if got[0].Name != base+"-cluster-1" || *got[0].Ports[0].Port != 9090 || len(got[0].Endpoints) != 6 {
		t.Errorf("after the switch: %v", sliceNames(got))
	}
}

func TestEndpointSlicePortConflicts(t *testing.T) {
	// cluster-1 (oldest) has http/80; cluster-2 has http/8080, which loses, and metrics/9090, which joins.
	slice2 := sourceSlice("b", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{endpointPort("http", 8080), endpointPort("metrics", 9090)}, ipv4s(2, 2)...)
	exports := []ClusterExport{
		clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{endpointPort("http", 8080)}, ipv4s(1, 2)...))),
		clusterExport("cluster-2", 1, newService(withPorts(port("http", "TCP", 8080), port("metrics", "TCP", 9090))), withSlices(slice2)),
	}
	s, _ := Merge("default", "web", exports)
	got := mirror(s, exports, 0)
	if len(got) != 2 || got[1].Name != base+"-cluster-2" || len(got[1].Ports) != 1 || *got[1].Ports[0].Name != "metrics" {
		t.Fatalf("cluster-2 must keep only metrics: %v %+v", sliceNames(got), got)
	}
	// Without a port of its own that survives the merge, cluster-2 gets no traffic at all.
	exports[1].Service = newService(withPorts(port("http", "TCP", 8080)))
	exports[1].Slices = []*discoveryv1.EndpointSlice{sourceSlice("b", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{endpointPort("http", 8080)}, ipv4s(2, 2)...)}
	s, _ = Merge("default", "web", exports)
	if got := mirror(s, exports, 0); !slices.Equal(sliceNames(got), []string{base + "-cluster-1(IPv4,2)"}) {
		t.Errorf("slices %v, want cluster-1's only", sliceNames(got))
	}
}

func TestEndpointSlicesDeterministic(t *testing.T) {
	http := []discoveryv1.EndpointPort{endpointPort("http", 8080), endpointPort("admin", 8081)}
	build := func(reverse bool) []ClusterExport {
		a := sourceSlice("a", discoveryv1.AddressTypeIPv4, slices.Clone(http), ipv4s(1, 150)...)
		b := sourceSlice("b", discoveryv1.AddressTypeIPv4, slices.Clone(http), ipv4s(3, 70)...)
		dup := podEndpoint("10.1.0.1", "pod-0")
		dup.Conditions.Ready = ptrTo(false)
		c := sourceSlice("c", discoveryv1.AddressTypeIPv4, slices.Clone(http), dup)
		srcs := []*discoveryv1.EndpointSlice{a, b, c}
		exports := []ClusterExport{
			clusterExport("cluster-1", 0, newService(withPorts(port("http", "TCP", 80), port("admin", "TCP", 81))), withSlices(srcs...)),
			clusterExport("cluster-2", 1, newService(withPorts(port("http", "TCP", 80), port("admin", "TCP", 81))), withSlices(
				sourceSlice("d", discoveryv1.AddressTypeIPv4, slices.Clone(http), ipv4s(2, 10)...))),
		}
		if reverse {
			slices.Reverse(exports)
			slices.Reverse(srcs)
			for _, sl := range srcs {
				slices.Reverse(sl.Endpoints)
				slices.Reverse(sl.Ports)
			}
		}
		return exports
	}
	in := build(false)
	before := make([]*discoveryv1.EndpointSlice, 0)
	for _, e := range in {
		for _, sl := range e.Slices {
			before = append(before, sl.DeepCopy())
		}
	}
	s, _ := Merge("default", "web", in)
	first := mirror(s, in, 100)
	second := mirror(s, build(true), 100)
	if !equality.Semantic.DeepEqual(first, second) {
		t.Errorf("the order of the inputs changed the output:\n%v\n%v", sliceNames(first), sliceNames(second))
	}
	// The duplicate of 10.1.0.1 that is not ready loses to the ready one.
	if ep := first[0].Endpoints[0]; ep.Addresses[0] != "10.1.0.1" || !*ep.Conditions.Ready {
		t.Errorf("first endpoint %+v, want ready 10.1.0.1", ep)
	}
	var after []*discoveryv1.EndpointSlice
	for _, e := range in {
		after = append(after, e.Slices...)
	}
	if !equality.Semantic.DeepEqual(before, after) {
		t.Errorf("EndpointSlices modified its input slices")
	}
	if *first[0].Ports[0].Name != "admin" {
		t.Errorf("ports not sorted: %+v", first[0].Ports)
	}
}

// TestRemoteEndpointsNotNodeLocal: in the importing cluster only its own endpoints keep
// nodeName and targetRef; a remote endpoint on a node of the same name must not count as
// local under internalTrafficPolicy: Local.
func TestRemoteEndpointsNotNodeLocal(t *testing.T) {
	ports := []discoveryv1.EndpointPort{endpointPort("http", 8080)}
	exports := []ClusterExport{
		clusterExport("cluster-1", 0, newService(), withSlices(sourceSlice("web-1", discoveryv1.AddressTypeIPv4, ports, podEndpoint("10.1.0.1", "a")))),
		clusterExport("cluster-2", 1, newService(), withSlices(sourceSlice("web-2", discoveryv1.AddressTypeIPv4, ports, podEndpoint("10.2.0.1", "b")))),
	}
	s, _ := Merge("default", "web", exports)
	for _, target := range []string{"cluster-1", "cluster-2", "cluster-3"} {
		got, _ := EndpointSlices(s, exports, SliceOptions{DerivedName: DerivedServiceName("web"), LocalCluster: target})
		for _, sl := range got {
			src := sl.Labels[mcsv1alpha1.LabelSourceCluster]
			for _, ep := range sl.Endpoints {
				local := src == target
				if (ep.NodeName != nil) != local || (ep.TargetRef != nil) != local {
					t.Errorf("in %s, endpoint %s from %s: nodeName %v targetRef %v, want them only on local endpoints",
						target, ep.Addresses[0], src, ptrValue(ep.NodeName), ep.TargetRef)
				}
				if ptrValue(ep.Zone) != "zone-a" || ep.Conditions.Ready == nil {
					t.Errorf("in %s, endpoint %s lost its zone or conditions: %+v", target, ep.Addresses[0], ep)
				}
			}
		}
	}
}

// TestEndpointSlicesFollowDerivedName: slice names and the kubernetes.io/service-name label
// follow the derived Service's name in the target, a fallback included.
func TestEndpointSlicesFollowDerivedName(t *testing.T) {
	ports := []discoveryv1.EndpointPort{endpointPort("http", 8080)}
	exports := []ClusterExport{clusterExport("cluster-2", 0, newService(),
		withSlices(sourceSlice("web-1", discoveryv1.AddressTypeIPv4, ports, podEndpoint("10.2.0.1", "a"))))}
	s, _ := Merge("default", "web", exports)
	name := FallbackDerivedServiceName("web")
	got, _ := EndpointSlices(s, exports, SliceOptions{DerivedName: name, LocalCluster: "cluster-1"})
	if len(got) != 1 || got[0].Name != name+"-cluster-2" || got[0].Labels[discoveryv1.LabelServiceName] != name ||
		got[0].Labels[mcsv1alpha1.LabelServiceName] != "web" {
		t.Errorf("slices %v, want one named %s-cluster-2 labelled for Service %s", sliceNames(got), name, name)
	}
}

// sliceWrites counts the writes that turn live into want: creates, updates and deletes.
func sliceWrites(live, want []*discoveryv1.EndpointSlice) int {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, l := range live {
		byName[l.Name] = l
	}
	writes := 0
	for _, w := range want {
		if l, ok := byName[w.Name]; !ok || !EndpointSliceEqual(w, l) {
			writes++
		}
		delete(byName, w.Name)
	}
	return writes + len(byName)
}

// TestEndpointSlicesStable: an endpoint added, removed or changed rewrites one slice (or
// creates one), not every slice after it in address order; a converged layout reproduces
// itself, whatever order the live slices are listed in (a restart writes nothing); slices
// well below capacity (two or more slices more than needed) are packed afresh, and endpoints
// removed in bulk from a few slices rewrite only those.
func TestEndpointSlicesStable(t *testing.T) {
	ports := []discoveryv1.EndpointPort{endpointPort("http", 8080)}
	compute := func(eps []discoveryv1.Endpoint, live []*discoveryv1.EndpointSlice) []*discoveryv1.EndpointSlice {
		exports := []ClusterExport{clusterExport("cluster-1", 0, newService(),
			withSlices(sourceSlice("web-x", discoveryv1.AddressTypeIPv4, ports, eps...)))}
		s, _ := Merge("default", "web", exports)
		out, _ := EndpointSlices(s, exports, SliceOptions{DerivedName: DerivedServiceName("web"), LocalCluster: "cluster-1",
			MaxEndpoints: 100, Existing: live})
		return out
	}
	base := ipv4s(1, 1000)
	converged := compute(base, nil)
	if len(converged) != 10 {
		t.Fatalf("%d slices for 1000 endpoints, want 10", len(converged))
	}
	without := func(eps []discoveryv1.Endpoint, ip string) []discoveryv1.Endpoint {
		return slices.DeleteFunc(slices.Clone(eps), func(e discoveryv1.Endpoint) bool { return e.Addresses[0] == ip })
	}
	notReady := func(eps []discoveryv1.Endpoint, ip string) []discoveryv1.Endpoint {
		out := slices.Clone(eps)
		for i := range out {
			if out[i].Addresses[0] == ip {
				out[i].Conditions.Ready = ptrTo(false)
			}
		}
		return out
	}
	lowest := podEndpoint("10.1.0.0", "pod-lowest") // sorts before every other address
	// spread is base without every fourth endpoint of every slice.
	spread := base
	for _, sl := range converged {
		for j, ep := range sl.Endpoints {
			if j%4 == 0 {
				spread = without(spread, ep.Addresses[0])
			}
		}
	}
	// withoutSlices removes the endpoints of the first n converged slices and the first
	// half of the next one's.
	withoutSlices := func(n int) []discoveryv1.Endpoint {
		eps := base
		for i, sl := range converged[:n+1] {
			for j, ep := range sl.Endpoints {
				if i < n || j < len(sl.Endpoints)/2 {
					eps = without(eps, ep.Addresses[0])
				}
			}
		}
		return eps
	}
	tests := []struct {
		name       string
		live       []*discoveryv1.EndpointSlice
		eps        []discoveryv1.Endpoint
		wantWrites int
		wantSlices int
	}{
		{"unchanged (a restart over converged state)", converged, base, 0, 10},
		{"one added at the lowest address", converged, append(slices.Clone(base), lowest), 1, 11},
		{"one removed", converged, without(base, "10.1.2.5"), 1, 10},
		{"one changed", converged, notReady(base, "10.1.1.7"), 1, 10},
		{"one added where a slice has room", compute(without(base, "10.1.2.5"), converged),
			append(without(base, "10.1.2.5"), lowest), 1, 10},
		{"a quarter removed from every slice: packed afresh", converged, spread, 10, 8},
		{"a slice and a half removed: one slice more than needed, not packed", converged, withoutSlices(1), 2, 9},
		{"two slices and a half removed: only those written", converged, withoutSlices(2), 3, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := compute(tt.eps, tt.live)
			if w := sliceWrites(tt.live, got); w != tt.wantWrites || len(got) != tt.wantSlices {
				t.Errorf("%d writes into %d slices, want %d into %d: %v", w, len(got), tt.wantWrites, tt.wantSlices, sliceNames(got))
			}
			total := 0
			for _, sl := range got {
				total += len(sl.Endpoints)
				if len(sl.Endpoints) > 100 || !slices.IsSortedFunc(sl.Endpoints, compareEndpoints) {
					t.Errorf("slice %s: %d endpoints, sorted %v", sl.Name, len(sl.Endpoints), slices.IsSortedFunc(sl.Endpoints, compareEndpoints))
				}
			}
			if total != len(tt.eps) {
				t.Errorf("%d endpoints mirrored, want %d", total, len(tt.eps))
			}
			if again := compute(tt.eps, got); sliceWrites(got, again) != 0 {
				t.Errorf("the result does not reproduce itself: %v -> %v", sliceNames(got), sliceNames(again))
			}
			reversed := slices.Clone(got)
			slices.Reverse(reversed)
			if again := compute(tt.eps, reversed); sliceWrites(got, again) != 0 {
				t.Errorf("the live slices listed in another order give another layout: %v -> %v", sliceNames(got), sliceNames(again))
			}
		})
	}
}
