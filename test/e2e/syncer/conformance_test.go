package syncer

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/target"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

// TestConformance checks the KEP-1645 and mcs-api v0.5.2 rules that depend on the importing
// cluster, with one syncer per cluster (pull mode). cluster-1 and cluster-2 are dual-stack,
// IPv4 primary; cluster-3 is IPv4 only.
func TestConformance(t *testing.T) {
	s := newSuiteWith(t, app.ModePull, localenv.Options{Clusters: 3, ControllerManager: true, DualStackClusters: 2})
	t.Run("CollidingNamesAllImported", s.testConfCollidingNames)
	t.Run("IPFamilies", s.testConfIPFamilies)
	t.Run("RemoteEndpointsNotNodeLocal", s.testConfNodeLocal)
	t.Run("AddressFilter", s.testConfAddressFilter)
	t.Run("RefusedSliceWriteIsolated", s.testConfQuota)
	t.Run("TerminatingNamespace", s.testConfTerminatingNamespace)
	t.Run("StableSlices", s.testConfStableSlices)
}

// confIdentities reads the identities of names in every cluster ("cluster/name" keys).
func (s *suite) confIdentities(t *testing.T, ns string, names ...string) map[string]importState {
	t.Helper()
	out := map[string]importState{}
	for _, c := range s.clusters {
		for _, n := range names {
			id, err := s.importStateOf(c, ns, n)
			if err != nil {
				t.Fatalf("%s: %v", c.ID, err)
			}
			out[c.ID+"/"+n] = id
		}
	}
	return out
}

// confSameIdentities fails unless every identity in want is still what it was.
func (s *suite) confSameIdentities(t *testing.T, ns string, want map[string]importState, when string) {
	t.Helper()
	for key, w := range want {
		cid, name, _ := strings.Cut(key, "/")
		got, err := s.importStateOf(s.cluster(cid), ns, name)
		switch {
		case err != nil:
			t.Errorf("%s, %s: %v", when, key, err)
		case !w.sameIdentity(got):
			t.Errorf("%s, %s changed: %v, was %v", when, key, got, w)
		}
	}
}

// confDistinct fails unless the named services have pairwise distinct derived Services
// (and VIPs) within each cluster.
func confDistinct(t *testing.T, ids map[string]importState, clusters []*harness.Cluster, names ...string) {
	t.Helper()
	for _, c := range clusters {
		seen := map[string]string{}
		for _, n := range names {
			id := ids[c.ID+"/"+n]
			for _, k := range append([]string{id.derived}, id.ips...) {
				if other, ok := seen[k]; ok {
					t.Errorf("%s: %s and %s share %s", c.ID, n, other, k)
				}
				seen[k] = n
			}
		}
	}
}

// testConfCollidingNames: web-120 and web-201 share an Adler-32, and so a seed name; both are
// imported in every cluster, each with its own derived Service. Neither is renamed (same
// Service, same VIP) when a third colliding name arrives, when the seed name frees, nor when
// the syncers restart.
func (s *suite) testConfCollidingNames(t *testing.T) {
	const ns = "conf-names"
	first, second, third := "web-120", "web-201", "vfb-210"
	if d := desired.DerivedServiceName(first); d != desired.DerivedServiceName(second) || d != desired.DerivedServiceName(third) {
		t.Fatalf("%s, %s and %s no longer collide", first, second, third)
	}
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	want := func(i int) imported {
		return imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1", "cluster-2"},
			eps: map[string][]string{"cluster-1": addresses(ips(fmt.Sprintf("10.9%d", i), 1)), "cluster-2": addresses(ips(fmt.Sprintf("10.8%d", i), 1))}}
	}
	add := func(name string, i int) {
		for j, c := range []*harness.Cluster{c1, c2} {
			s.createService(t, c, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
			s.createSlice(t, c, ns, name, name+"-1", discoveryv1.AddressTypeIPv4, http, ips(fmt.Sprintf("10.%d%d", 9-j, i), 1))
			s.export(t, c, ns, name)
		}
	}
	allImported := func(names ...string) func() error {
		return func() error {
			return s.inAll(func(c *harness.Cluster) error {
				for i, n := range names {
					if err := s.checkImport(c, ns, n, want(i)); err != nil {
						return err
					}
				}
				return nil
			})
		}
	}
	// Both at once: the syncers' workers race for the seed name in each cluster.
	add(first, 0)
	add(second, 1)
	eventually(t, "both colliding names imported everywhere", allImported(first, second))
	ids := s.confIdentities(t, ns, first, second)
	confDistinct(t, ids, s.clusters, first, second)
	for key, id := range ids {
		_, name, _ := strings.Cut(key, "/")
		if !slices.Contains(desired.DerivedServiceNames(name), id.derived) {
			t.Errorf("%s: derived Service %s is none of %v", key, id.derived, desired.DerivedServiceNames(name))
		}
	}
	t.Logf("derived names: %v", ids)

	add(third, 2)
	eventually(t, "a third colliding name imported everywhere", allImported(first, second, third))
	s.confSameIdentities(t, ns, ids, "after a third colliding name")
	all := s.confIdentities(t, ns, first, second, third)
	confDistinct(t, all, s.clusters, first, second, third)

	// Restart every syncer: the names come back from the imports' annotations.
	for _, c := range s.clusters {
		s.stopSyncer(t, c.ID)
		s.startSyncer(t, c)
	}
	time.Sleep(2 * resync)
	s.confSameIdentities(t, ns, all, "after the syncers restarted")

	// The seed name frees (at least in cluster-1): whoever holds a fallback keeps it.
	var holder string
	for _, n := range []string{first, second, third} {
		if all["cluster-1/"+n].derived == desired.DerivedServiceName(n) {
			holder = n
		}
	}
	if holder == "" {
		t.Fatalf("nobody holds the seed name in cluster-1: %v", all)
	}
	for _, c := range []*harness.Cluster{c1, c2} {
		s.unexport(t, c, ns, holder)
	}
	eventually(t, holder+" gone everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkGone(c, ns, holder) })
	})
	s.stopSyncer(t, "cluster-3")
	s.startSyncer(t, s.cluster("cluster-3"))
	time.Sleep(2 * resync)
	for key := range all {
		if _, name, _ := strings.Cut(key, "/"); name == holder {
			delete(all, key)
		}
	}
	s.confSameIdentities(t, ns, all, "after the seed name freed (and cluster-3's syncer restarted)")

	// A Service the syncer does not manage holds a seed name in cluster-3: the import takes
	// the fallback there, and the user's Service is left as it was.
	const mine = "user-held"
	c3 := s.cluster("cluster-3")
	theirs, err := c3.Kube.CoreV1().Services(ns).Create(s.ctx,
		service(ns, desired.DerivedServiceName(mine), corev1.ServiceTypeClusterIP, port("x", 1)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.createService(t, c1, service(ns, mine, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.export(t, c1, ns, mine)
	eventually(t, mine+" imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return s.checkImport(c, ns, mine, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
				clusters: []string{"cluster-1"}, eps: map[string][]string{}})
		})
	})
	got := s.confIdentities(t, ns, mine)
	for _, c := range s.clusters {
		want := desired.DerivedServiceName(mine)
		if c == c3 {
			want = desired.FallbackDerivedServiceName(mine)
		}
		if d := got[c.ID+"/"+mine].derived; d != want {
			t.Errorf("%s: %s's derived Service is %s, want %s", c.ID, mine, d, want)
		}
	}
	after, err := c3.Kube.CoreV1().Services(ns).Get(s.ctx, theirs.Name, metav1.GetOptions{})
	if err != nil || after.ResourceVersion != theirs.ResourceVersion {
		t.Errorf("the user's Service %s was written (%v)", theirs.Name, err)
	}
}

// confFamilies sets a Service's IP families (single-stack when one is given).
func confFamilies(svc *corev1.Service, families ...corev1.IPFamily) *corev1.Service {
	svc.Spec.IPFamilies = families
	policy := corev1.IPFamilyPolicySingleStack
	if len(families) > 1 {
		policy = corev1.IPFamilyPolicyPreferDualStack
	}
	svc.Spec.IPFamilyPolicy = &policy
	return svc
}

// confImportReady returns the Ready condition of the ServiceImport ns/name in c, read through
// v1beta1 (which must serve what the syncer wrote in v1alpha1), and its endpointSliceObjects.
func (s *suite) confImportReady(c *harness.Cluster, ns, name string) (*metav1.Condition, string, error) {
	si, err := c.MCS.MulticlusterV1beta1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, "", err
	}
	cond := meta.FindStatusCondition(si.Status.Conditions, string(mcsv1alpha1.ServiceImportConditionReady))
	if cond == nil {
		return nil, "", fmt.Errorf("%s: import %s/%s has no Ready condition", c.ID, ns, name)
	}
	return cond, string(si.Status.EndpointSliceObjects), nil
}

// confFamiliesOf returns the families of ips.
func confFamiliesOf(ips []string) []corev1.IPFamily {
	var out []corev1.IPFamily
	for _, ip := range ips {
		if netip.MustParseAddr(ip).Is4() {
			out = append(out, corev1.IPv4Protocol)
		} else {
			out = append(out, corev1.IPv6Protocol)
		}
	}
	return out
}

// testConfIPFamilies: an IPv4-only and an IPv6-only export conflict (IPFamilyConflict) and
// import both families where the cluster serves them; an IPv6-only export gets an IPv6 VIP in
// an IPv4-primary dual-stack cluster and reports IPFamilyNotSupported in an IPv4-only one;
// a headless import carries ipFamilies.
func (s *suite) testConfIPFamilies(t *testing.T) {
	const ns = "conf-families"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	v4, v6 := corev1.IPv4Protocol, corev1.IPv6Protocol
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}

	s.createService(t, c1, confFamilies(service(ns, "mixed", corev1.ServiceTypeClusterIP, port("http", 80)), v4))
	s.createSlice(t, c1, ns, "mixed", "mixed-1", discoveryv1.AddressTypeIPv4, http, []endpoint{{ip: "10.91.0.1"}})
	s.createService(t, c2, confFamilies(service(ns, "mixed", corev1.ServiceTypeClusterIP, port("http", 80)), v6))
	s.createSlice(t, c2, ns, "mixed", "mixed-1", discoveryv1.AddressTypeIPv6, http, []endpoint{{ip: "fd00:92::1"}})
	s.createService(t, c2, confFamilies(service(ns, "v6only", corev1.ServiceTypeClusterIP, port("http", 80)), v6))
	s.createSlice(t, c2, ns, "v6only", "v6only-1", discoveryv1.AddressTypeIPv6, http, []endpoint{{ip: "fd00:92::2"}})
	hl := service(ns, "hl", corev1.ServiceTypeClusterIP, port("http", 80))
	hl.Spec.ClusterIP = corev1.ClusterIPNone
	s.createService(t, c1, hl)
	s.createSlice(t, c1, ns, "hl", "hl-1", discoveryv1.AddressTypeIPv4, http, []endpoint{{ip: "10.91.0.3", hostname: "hl-0"}})
	// A selectorless headless Service in a dual-stack cluster gets both families.
	hlSource, err := c1.Kube.CoreV1().Services(ns).Get(s.ctx, "hl", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.export(t, c1, ns, "mixed")
	s.export(t, c2, ns, "mixed")
	s.export(t, c2, ns, "v6only")
	s.export(t, c1, ns, "hl")

	eventually(t, "IPFamilyConflict on both exports", func() error {
		for _, c := range []*harness.Cluster{c1, c2} {
			if err := s.checkConditions(c, ns, "mixed", "Valid=True/Valid", "Conflict=True/IPFamilyConflict"); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("Conflict message: %s", s.condition(c1, ns, "mixed", "Conflict").Message)

	// VIP families per cluster: what the cluster serves of the merged families.
	wantVIPs := map[string]map[string][]corev1.IPFamily{
		"cluster-1": {"mixed": {v4, v6}, "v6only": {v6}},
		"cluster-2": {"mixed": {v4, v6}, "v6only": {v6}},
		"cluster-3": {"mixed": {v4}, "v6only": {v4}}, // IPv4-only: the default family, and a Ready=False import
	}
	eventually(t, "imports with the families each cluster serves", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			for name, fams := range wantVIPs[c.ID] {
				id, err := s.importStateOf(c, ns, name)
				if err != nil {
					return err
				}
				if got := confFamiliesOf(id.ips); !slices.Equal(got, fams) {
					return fmt.Errorf("%s: derived Service VIPs %v, want families %v", name, id.ips, fams)
				}
				si, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if !slices.Equal(si.Spec.IPs, id.ips) || !slices.Equal(si.Spec.IPFamilies, fams) {
					return fmt.Errorf("%s: import ips %v families %v, want %v %v", name, si.Spec.IPs, si.Spec.IPFamilies, id.ips, fams)
				}
				wantReason := string(mcsv1alpha1.ServiceImportReasonReady)
				if c.ID == "cluster-3" && name == "v6only" {
					wantReason = string(mcsv1alpha1.ServiceImportReasonIPFamilyNotSupported)
				}
				ready, objects, err := s.confImportReady(c, ns, name)
				if err != nil {
					return err
				}
				if ready.Reason != wantReason || (wantReason == "Ready") != (ready.Status == metav1.ConditionTrue) || objects != "Present" {
					return fmt.Errorf("%s: import Ready=%s/%s (%s), endpointSliceObjects %q; want reason %s, Present",
						name, ready.Status, ready.Reason, ready.Message, objects, wantReason)
				}
			}
			si, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, "hl", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if si.Spec.Type != mcsv1alpha1.Headless || len(si.Spec.IPs) != 0 || len(si.Spec.IPFamilies) == 0 ||
				!slices.Equal(si.Spec.IPFamilies, hlSource.Spec.IPFamilies) {
				return fmt.Errorf("headless import type %s ips %v ipFamilies %v, want Headless, none, the source's %v",
					si.Spec.Type, si.Spec.IPs, si.Spec.IPFamilies, hlSource.Spec.IPFamilies)
			}
			return nil
		})
	})
	// In every cluster the IPv6 endpoints of mixed stay in their own IPv6 slice.
	if err := s.inAll(func(c *harness.Cluster) error {
		return s.checkImport(c, ns, "mixed", imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
			clusters: []string{"cluster-1", "cluster-2"},
			eps:      map[string][]string{"cluster-1": {"10.91.0.1"}, "cluster-2": {"fd00:92::1"}}})
	}); err != nil {
		t.Error(err)
	}
	t.Logf("headless import ipFamilies: %v", hlSource.Spec.IPFamilies)
	if ready, _, err := s.confImportReady(c3, ns, "v6only"); err == nil {
		t.Logf("cluster-3 v6only import Ready: %s/%s: %s", ready.Status, ready.Reason, ready.Message)
	}
}

// testConfNodeLocal: the importing cluster keeps nodeName and targetRef only on its own
// endpoints; a remote endpoint on a node of the same name is not node-local.
func (s *suite) testConfNodeLocal(t *testing.T) {
	const ns, name = "conf-nodes", "nodes"
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	for i, c := range []*harness.Cluster{c1, c2} {
		svc := service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80))
		svc.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		s.createService(t, c, svc)
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{slicePort("http", 8080)},
			Endpoints: []discoveryv1.Endpoint{{
				Addresses:  []string{fmt.Sprintf("10.93.%d.1", i+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				NodeName:   ptr.To("worker-1"), // the same node name in both clusters
				Zone:       ptr.To("zone-a"),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "pod-" + c.ID},
			}},
		}
		if _, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Create(s.ctx, slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.export(t, c, ns, name)
	}
	want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1", "cluster-2"},
		eps: map[string][]string{"cluster-1": {"10.93.1.1"}, "cluster-2": {"10.93.2.1"}}}
	eventually(t, "imported everywhere, node-local only where local", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			if err := s.checkImport(c, ns, name, want); err != nil {
				return err
			}
			list, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
			if err != nil {
				return err
			}
			for _, sl := range list.Items {
				local := sl.Labels[mcsv1alpha1.LabelSourceCluster] == c.ID
				for _, ep := range sl.Endpoints {
					if local && (ptr.Deref(ep.NodeName, "") != "worker-1" || ep.TargetRef == nil || ep.TargetRef.Name != "pod-"+c.ID) {
						return fmt.Errorf("local endpoint %s lost nodeName %v or targetRef %v", ep.Addresses[0], ptr.Deref(ep.NodeName, ""), ep.TargetRef)
					}
					if !local && (ep.NodeName != nil || ep.TargetRef != nil) {
						return fmt.Errorf("remote endpoint %s from %s keeps nodeName %q / targetRef %v",
							ep.Addresses[0], sl.Labels[mcsv1alpha1.LabelSourceCluster], ptr.Deref(ep.NodeName, ""), ep.TargetRef)
					}
					if ptr.Deref(ep.Zone, "") != "zone-a" {
						return fmt.Errorf("endpoint %s lost its zone", ep.Addresses[0])
					}
				}
			}
			return nil
		})
	})
}

// confKubernetesVIP is the cluster IP of c's kubernetes Service.
func (s *suite) confKubernetesVIP(t *testing.T, c *harness.Cluster) string {
	t.Helper()
	svc, err := c.Kube.CoreV1().Services(metav1.NamespaceDefault).Get(s.ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.ClusterIP
}

// confDropped reads a syncer's endpoints-dropped counter for a source cluster and reason.
func (s *suite) confDropped(syncerID, source string, reason desired.DropReason) float64 {
	return confCount(s.syncers[syncerID].Metrics.EndpointsDropped.WithLabelValues(source, string(reason)))
}

// testConfAddressFilter: a member's endpoint at the importing cluster's kubernetes VIP (or in
// its IPv6 Service range) is dropped in that cluster alone, next to a valid one that is
// mirrored; each drop is counted once, not on every resync.
func (s *suite) testConfAddressFilter(t *testing.T) {
	const ns, name = "conf-addresses", "addr"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	vip1, vip3 := s.confKubernetesVIP(t, c1), s.confKubernetesVIP(t, c3)
	inV6Range1 := strings.TrimSuffix(c1.ServiceCIDRIPv6, "/112") + "5" // fd00:101::5
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	svc := confFamilies(service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)), corev1.IPv4Protocol, corev1.IPv6Protocol)
	s.createService(t, c2, svc)
	s.createSlice(t, c2, ns, name, name+"-v4", discoveryv1.AddressTypeIPv4, http, []endpoint{{ip: "10.94.0.1"}, {ip: vip1}, {ip: vip3}})
	s.createSlice(t, c2, ns, name, name+"-v6", discoveryv1.AddressTypeIPv6, http, []endpoint{{ip: "fd00:94::1"}, {ip: inV6Range1}})
	s.export(t, c2, ns, name)

	sorted := func(a ...string) []string { slices.Sort(a); return a }
	want := map[string][]string{
		"cluster-1": sorted("10.94.0.1", vip3, "fd00:94::1"),                   // its VIP and its IPv6 range dropped
		"cluster-2": sorted("10.94.0.1", vip1, vip3, "fd00:94::1", inV6Range1), // none of its ranges
		"cluster-3": sorted("10.94.0.1", vip1, "fd00:94::1", inV6Range1),       // IPv4-only: only its VIP dropped
	}
	eventually(t, "only the valid endpoints mirrored, per cluster", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return s.checkImport(c, ns, name, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
				clusters: []string{"cluster-2"}, eps: map[string][]string{"cluster-2": want[c.ID]}})
		})
	})
	counts := func() [3]float64 {
		return [3]float64{s.confDropped("cluster-1", "cluster-2", desired.DropServiceCIDR),
			s.confDropped("cluster-2", "cluster-2", desired.DropServiceCIDR), s.confDropped("cluster-3", "cluster-2", desired.DropServiceCIDR)}
	}
	if got := counts(); got != [3]float64{2, 0, 1} {
		t.Errorf("endpoints_dropped_total{cluster=cluster-2,reason=ServiceCIDR} in the syncers of cluster-1..3 = %v, want [2 0 1]", got)
	}
	time.Sleep(2 * resync)
	if got := counts(); got != [3]float64{2, 0, 1} {
		t.Errorf("after two resyncs the drops are counted again: %v, want [2 0 1]", got)
	}
}

// testConfQuota: a ResourceQuota allowing no EndpointSlice in one namespace of cluster-3
// refuses one mirrored slice there. Everything else of that service in cluster-3 still
// happens (a later cluster's slice is updated, a stale one deleted), the other service of the
// namespace and the other clusters converge, no import, derived Service or VIP changes, and
// the refusal is reported; once the quota goes, cluster-3 converges.
func (s *suite) testConfQuota(t *testing.T) {
	const ns = "conf-quota"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	source := func(c *harness.Cluster, name, ip string) {
		s.createService(t, c, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
		s.createSlice(t, c, ns, name, name+"-1", discoveryv1.AddressTypeIPv4, http, []endpoint{{ip: ip}})
	}
	source(c1, "quota-a", "10.95.1.1")
	source(c2, "quota-a", "10.95.2.1") // exported later, into the quota
	source(c3, "quota-a", "10.95.3.1")
	source(c1, "quota-b", "10.96.1.1")
	s.export(t, c1, ns, "quota-a")
	s.export(t, c3, ns, "quota-a")
	s.export(t, c1, ns, "quota-b")
	importOf := func(clusters []string, eps map[string][]string) imported {
		return imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: clusters, eps: eps}
	}
	eventually(t, "both services imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return errors.Join(
				s.checkImport(c, ns, "quota-a", importOf([]string{"cluster-1", "cluster-3"},
					map[string][]string{"cluster-1": {"10.95.1.1"}, "cluster-3": {"10.95.3.1"}})),
				s.checkImport(c, ns, "quota-b", importOf([]string{"cluster-1"}, map[string][]string{"cluster-1": {"10.96.1.1"}})))
		})
	})
	ids := s.confIdentities(t, ns, "quota-a", "quota-b")

	quota := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "no-more-slices"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/endpointslices.discovery.k8s.io": resource.MustParse("0")}},
	}
	if _, err := c3.Kube.CoreV1().ResourceQuotas(ns).Create(s.ctx, quota, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the quota computed by the resourcequota controller", func() error {
		q, err := c3.Kube.CoreV1().ResourceQuotas(ns).Get(s.ctx, quota.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := q.Status.Hard["count/endpointslices.discovery.k8s.io"]; !ok {
			return fmt.Errorf("status %+v", q.Status)
		}
		return nil
	})

	// At once: cluster-2 joins (a new slice in cluster-3: refused), cluster-3's endpoint
	// moves (an update of a slice named after cluster-2's), cluster-1 unexports (a stale
	// slice to delete), and the other service's endpoint moves.
	s.export(t, c2, ns, "quota-a")
	s.confMoveEndpoint(t, c3, ns, "quota-a-1", "10.95.3.2")
	s.unexport(t, c1, ns, "quota-a")
	s.confMoveEndpoint(t, c1, ns, "quota-b-1", "10.96.1.2")

	converged := importOf([]string{"cluster-2", "cluster-3"}, map[string][]string{"cluster-2": {"10.95.2.1"}, "cluster-3": {"10.95.3.2"}})
	partial := importOf([]string{"cluster-2", "cluster-3"}, map[string][]string{"cluster-3": {"10.95.3.2"}})
	b := importOf([]string{"cluster-1"}, map[string][]string{"cluster-1": {"10.96.1.2"}})
	isolated := func() error {
		return errors.Join(
			s.checkImport(c1, ns, "quota-a", converged), s.checkImport(c2, ns, "quota-a", converged),
			s.checkImport(c3, ns, "quota-a", partial),
			s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "quota-b", b) }),
			s.confImportReason(c3, ns, "quota-a", metav1.ConditionFalse, mcsv1alpha1.ServiceImportReasonPending, "exceeded quota"),
			s.checkConditions(c3, ns, "quota-a", "Ready=False/Failed"),
		)
	}
	eventually(t, "everything but the refused slice written", isolated)
	s.confSameIdentities(t, ns, ids, "under the quota")
	time.Sleep(2 * resync)
	if err := isolated(); err != nil {
		t.Errorf("two resyncs later: %v", err)
	}
	s.confSameIdentities(t, ns, ids, "two resyncs under the quota")

	if err := c3.Kube.CoreV1().ResourceQuotas(ns).Delete(s.ctx, quota.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "cluster-3 converges once the quota is gone", func() error {
		return errors.Join(s.checkImport(c3, ns, "quota-a", converged),
			s.confImportReason(c3, ns, "quota-a", metav1.ConditionTrue, mcsv1alpha1.ServiceImportReasonReady, ""),
			s.checkConditions(c3, ns, "quota-a", "Ready=True/Exported"))
	})
	s.confSameIdentities(t, ns, ids, "after the quota")
}

// confImportReason checks the ServiceImport's Ready condition; msg, when set, must be part
// of its message.
func (s *suite) confImportReason(c *harness.Cluster, ns, name string, status metav1.ConditionStatus,
	reason mcsv1alpha1.ServiceImportConditionReason, msg string) error {
	ready, _, err := s.confImportReady(c, ns, name)
	if err != nil {
		return err
	}
	if ready.Status != status || ready.Reason != string(reason) || !strings.Contains(ready.Message, msg) {
		return fmt.Errorf("%s: import %s/%s Ready=%s/%s (%s), want %s/%s mentioning %q", c.ID, ns, name,
			ready.Status, ready.Reason, ready.Message, status, reason, msg)
	}
	return nil
}

// confMoveEndpoint gives the single endpoint of a source slice a new address.
func (s *suite) confMoveEndpoint(t *testing.T, c *harness.Cluster, ns, slice, ip string) {
	t.Helper()
	sl, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, slice, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl.Endpoints[0].Addresses = []string{ip}
	if _, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testConfTerminatingNamespace: a namespace being deleted in cluster-3 (it stays Terminating:
// localenv runs no namespace controller) is skipped there like a missing one, without a
// retry loop, while the other clusters import as usual.
func (s *suite) testConfTerminatingNamespace(t *testing.T) {
	const ns = "conf-terminating"
	s.namespace(t, ns)
	c1, c3 := s.cluster("cluster-1"), s.cluster("cluster-3")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	s.createService(t, c1, service(ns, "term-a", corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c1, ns, "term-a", "term-a-1", discoveryv1.AddressTypeIPv4, http, []endpoint{{ip: "10.97.0.1"}})
	s.export(t, c1, ns, "term-a")
	a := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": {"10.97.0.1"}}}
	eventually(t, "imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "term-a", a) })
	})
	if err := c3.Kube.CoreV1().Namespaces().Delete(s.ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace Terminating in cluster-3", func() error {
		n, err := c3.Kube.CoreV1().Namespaces().Get(s.ctx, ns, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.DeletionTimestamp == nil {
			return fmt.Errorf("namespace %s not being deleted", ns)
		}
		return nil
	})
	m := s.syncers["cluster-3"].Metrics
	errorsBefore := confCount(m.SyncErrors)
	skippedBefore := confCount(m.Skipped.WithLabelValues("cluster-3", target.ReasonNamespaceTerminating))

	s.confMoveEndpoint(t, c1, ns, "term-a-1", "10.97.0.2")
	s.createService(t, c1, service(ns, "term-b", corev1.ServiceTypeClusterIP, port("http", 80)))
	s.export(t, c1, ns, "term-b")
	a.eps = map[string][]string{"cluster-1": {"10.97.0.2"}}
	eventually(t, "cluster-1 and cluster-2 follow", func() error {
		var errs []error
		for _, c := range s.clusters[:2] {
			errs = append(errs, s.checkImport(c, ns, "term-a", a), s.checkImport(c, ns, "term-b",
				imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"}, eps: map[string][]string{}}))
		}
		return errors.Join(errs...)
	})
	time.Sleep(2 * resync)
	if got := confCount(m.SyncErrors); got != errorsBefore {
		t.Errorf("cluster-3's syncer failed %v reconciles on the Terminating namespace", got-errorsBefore)
	}
	if got := confCount(m.Skipped.WithLabelValues("cluster-3", target.ReasonNamespaceTerminating)); got <= skippedBefore {
		t.Errorf("imports_skipped_total{reason=NamespaceTerminating} did not move (%v)", got)
	}
	if _, err := c3.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, "term-b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("term-b written into the Terminating namespace (%v)", err)
	}
}

// confCount reads a counter.
func confCount(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m) // a counter always writes
	return m.GetCounter().GetValue()
}

// confSliceWrites sums the EndpointSlice writes of every syncer.
func (s *suite) confSliceWrites() float64 {
	sum := 0.0
	for _, sy := range s.syncers {
		for labels, v := range sy.WritesByLabels() {
			if strings.Contains(labels, "kind=EndpointSlice") {
				sum += v
			}
		}
	}
	return sum
}

// testConfStableSlices: 1,000 endpoints mirrored as 10 slices per cluster; one endpoint added
// at the lowest address, then one removed, each costs one slice write per cluster (3), not a
// rewrite of every slice after it; two and a half slices' worth removed costs those three.
func (s *suite) testConfStableSlices(t *testing.T) {
	const ns, name = "conf-stable", "big"
	s.namespace(t, ns)
	c1 := s.cluster("cluster-1")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	all := ips("10.98", 1000) // 10.98.0.1 .. 10.98.3.250
	s.createService(t, c1, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c1, ns, name, name+"-a", discoveryv1.AddressTypeIPv4, http, all[:500])
	s.createSlice(t, c1, ns, name, name+"-b", discoveryv1.AddressTypeIPv4, http, all[500:])
	s.export(t, c1, ns, name)
	want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": addresses(all)}}
	settled := func(what string) float64 {
		eventually(t, what, func() error {
			return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, want) })
		})
		time.Sleep(resync + time.Second) // let any further write land
		return s.confSliceWrites()
	}
	before := settled("1,000 endpoints mirrored everywhere")
	list, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 10 {
		t.Errorf("%d mirrored slices in cluster-1, want 10", len(list.Items))
	}

	sl, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, name+"-b", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.98.0.0"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	if _, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want.eps = map[string][]string{"cluster-1": append([]string{"10.98.0.0"}, addresses(all)...)}
	afterAdd := settled("the lowest address added everywhere")
	if got := afterAdd - before; got != 3 {
		t.Errorf("adding one endpoint at the lowest address took %v slice writes in 3 clusters, want 3", got)
	}

	sl, err = c1.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, name+"-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	removed := all[4].ip // 10.98.0.5, in the first mirrored slice
	sl.Endpoints = slices.DeleteFunc(sl.Endpoints, func(e discoveryv1.Endpoint) bool { return e.Addresses[0] == removed })
	if _, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want.eps = map[string][]string{"cluster-1": slices.DeleteFunc(want.eps["cluster-1"], func(a string) bool { return a == removed })}
	afterRemove := settled("one endpoint removed everywhere")
	if got := afterRemove - afterAdd; got != 3 {
		t.Errorf("removing one endpoint took %v slice writes in 3 clusters, want 3", got)
	}

	// Endpoints removed in bulk: two mirrored slices' worth and half of a third, all from
	// source slice -a, rewrite or delete those three slices only (packing every slice afresh
	// would write all of them).
	mirrored, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
	if err != nil || len(mirrored.Items) == 0 {
		t.Fatalf("mirrored slices: %v, %v", mirrored, err)
	}
	base := mirrored.Items[0].Labels[discoveryv1.LabelServiceName] + "-cluster-1"
	gone := map[string]bool{}
	touched := 0
	for _, item := range mirrored.Items {
		n := map[string]int{base: 2, base + ".2": 2, base + ".3": 1}[item.Name] // halves removed
		if n > 0 {
			touched++
		}
		for _, ep := range item.Endpoints[:len(item.Endpoints)*n/2] {
			gone[ep.Addresses[0]] = true
		}
	}
	sl, err = c1.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, name+"-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kept := slices.DeleteFunc(slices.Clone(sl.Endpoints), func(e discoveryv1.Endpoint) bool { return gone[e.Addresses[0]] })
	if touched != 3 || len(sl.Endpoints)-len(kept) != len(gone) {
		t.Fatalf("%d of the first three mirrored slices found, %d of their %d endpoints in %s-a: the layout is not the one this test expects",
			touched, len(sl.Endpoints)-len(kept), len(gone), name)
	}
	sl.Endpoints = kept
	if _, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want.eps = map[string][]string{"cluster-1": slices.DeleteFunc(want.eps["cluster-1"], func(a string) bool { return gone[a] })}
	afterBulk := settled(fmt.Sprintf("%d endpoints removed everywhere", len(gone)))
	if got := afterBulk - afterRemove; got != 3*3 {
		t.Errorf("removing %d endpoints from 3 mirrored slices took %v slice writes in 3 clusters, want 9", len(gone), got)
	}
	t.Logf("slice writes: %v before, %v for one endpoint added at the lowest address, %v for one removed, %v for %d removed from 3 slices",
		before, afterAdd-before, afterRemove-afterAdd, afterBulk-afterRemove, len(gone))
}
