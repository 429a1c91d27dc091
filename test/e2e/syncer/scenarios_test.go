package syncer

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
)

// TestPullMode runs every scenario with one syncer per cluster, each writing only into its
// own cluster.
func TestPullMode(t *testing.T) {
	s := newSuite(t, app.ModePull, true)
	s.run(t)
}

// TestHubMode runs every scenario with one syncer, in cluster-1, writing into all clusters.
func TestHubMode(t *testing.T) {
	s := newSuite(t, app.ModeHub, false)
	s.run(t)
}

func (s *suite) run(t *testing.T) {
	t.Run("ServiceTypes", s.testServiceTypes)
	t.Run("Conflicts", s.testConflicts)
	t.Run("ImportLifecycle", s.testImportLifecycle)
	t.Run("LargeAndSplitServices", s.testLargeAndSplitServices)
	t.Run("MissingNamespace", s.testMissingNamespace)
	t.Run("Clash", s.testClash)
	if s.mode == app.ModePull {
		t.Run("PodsThroughControllerManager", s.testPodsThroughControllerManager)
	}
	t.Run("ResyncMakesNoWrites", s.testResyncMakesNoWrites)
	t.Run("UnreachableMember", s.testUnreachableMember)
	if s.mode == app.ModePull {
		t.Run("ExpiredLease", s.testExpiredLease)
		t.Run("LeaderElection", s.testLeaderElection)
	}
	t.Run("KillMidSync", s.testKillMidSync)
}

// testServiceTypes: ClusterIP, NodePort and LoadBalancer become ClusterSetIP imports in all
// three clusters, the exporter included; headless becomes Headless with hostnames kept;
// ExternalName is Valid=False and nothing is written.
func (s *suite) testServiceTypes(t *testing.T) {
	const ns = "types"
	s.namespace(t, ns)
	c1 := s.cluster("cluster-1")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	for i, typ := range []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer} {
		name := "web-" + strings.ToLower(string(typ))
		s.createService(t, c1, service(ns, name, typ, port("http", 80)))
		s.createSlice(t, c1, ns, name, name+"-abc", discoveryv1.AddressTypeIPv4, http, ips(fmt.Sprintf("10.1%d", i), 3))
		s.export(t, c1, ns, name)
	}
	headless := service(ns, "web-headless", corev1.ServiceTypeClusterIP, port("tcp", 5000))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	s.createService(t, c1, headless)
	pods := []endpoint{{"10.20.0.1", "pod-a"}, {"10.20.0.2", "pod-b"}}
	s.createSlice(t, c1, ns, "web-headless", "web-headless-abc", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("tcp", 5000)}, pods)
	s.export(t, c1, ns, "web-headless")
	external := service(ns, "web-external", corev1.ServiceTypeExternalName)
	external.Spec.ExternalName = "example.org"
	s.createService(t, c1, external)
	s.export(t, c1, ns, "web-external")

	eventually(t, "ClusterSetIP imports everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			for i, typ := range []string{"clusterip", "nodeport", "loadbalancer"} {
				name := "web-" + typ
				if err := s.checkImport(c, ns, name, imported{
					typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
					eps:        map[string][]string{"cluster-1": addresses(ips(fmt.Sprintf("10.1%d", i), 3))},
					sliceNames: []string{desired.DerivedServiceName(name) + "-cluster-1"},
				}); err != nil {
					return err
				}
			}
			return nil
		})
	})
	eventually(t, "Headless import with hostnames everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return s.checkImport(c, ns, "web-headless", imported{
				typ: mcsv1alpha1.Headless, ports: []string{"tcp/TCP/5000"}, clusters: []string{"cluster-1"},
				eps:       map[string][]string{"cluster-1": addresses(pods)},
				hostnames: map[string]string{"10.20.0.1": "pod-a", "10.20.0.2": "pod-b"},
			})
		})
	})
	eventually(t, "export conditions", func() error {
		for _, name := range []string{"web-clusterip", "web-nodeport", "web-loadbalancer", "web-headless"} {
			if err := s.checkConditions(c1, ns, name, "Valid=True/Valid", "Conflict=False/NoConflicts", "Ready=True/Exported"); err != nil {
				return err
			}
		}
		return s.checkConditions(c1, ns, "web-external", "Valid=False/InvalidServiceType", "Ready=False/Failed")
	})
	if err := s.inAll(func(c *harness.Cluster) error { return s.checkGone(c, ns, "web-external") }); err != nil {
		t.Error(err)
	}

	// v1beta1 is served from the same storage: CoreDNS reads v1alpha1, others v1beta1.
	for _, c := range s.clusters {
		alpha, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, "web-clusterip", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		beta, err := c.MCS.MulticlusterV1beta1().ServiceImports(ns).Get(s.ctx, "web-clusterip", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(alpha.Spec.IPs, beta.Spec.IPs) || string(alpha.Spec.Type) != string(beta.Spec.Type) || len(beta.Status.Clusters) != 1 {
			t.Errorf("%s: v1beta1 import %+v differs from v1alpha1 %+v", c.ID, beta.Spec, alpha.Spec)
		}
	}
}

// testConflicts: two clusters export one service with different ports, then different
// types: Conflict=True on both exports, the oldest export wins, ports are the union.
func (s *suite) testConflicts(t *testing.T) {
	const ns, name = "conflicts", "db"
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	// cluster-2 exports first: it wins although cluster-1 sorts first by ID.
	s.createService(t, c2, service(ns, name, corev1.ServiceTypeClusterIP, port("pg", 5432), port("metrics", 9187)))
	s.createSlice(t, c2, ns, name, "db-2", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("pg", 5432), slicePort("metrics", 9187)}, ips("10.32", 2))
	s.export(t, c2, ns, name)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has second precision
	s.createService(t, c1, service(ns, name, corev1.ServiceTypeClusterIP, port("pg", 5432)))
	s.createSlice(t, c1, ns, name, "db-1", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("pg", 5432)}, ips("10.31", 2))
	s.export(t, c1, ns, name)

	want := imported{
		typ: mcsv1alpha1.ClusterSetIP, ports: []string{"metrics/TCP/9187", "pg/TCP/5432"}, clusters: []string{"cluster-1", "cluster-2"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.31", 2)), "cluster-2": addresses(ips("10.32", 2))},
	}
	eventually(t, "ports union everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, want) })
	})
	eventually(t, "PortConflict on both exports", func() error {
		for _, c := range []*harness.Cluster{c1, c2} {
			if err := s.checkConditions(c, ns, name, "Valid=True/Valid", "Conflict=True/PortConflict", "Ready=True/Exported"); err != nil {
				return err
			}
			if msg := s.condition(c, ns, name, "Conflict").Message; !strings.Contains(msg, "ports") || !strings.Contains(msg, "cluster-2") {
				return fmt.Errorf("%s: conflict message %q names neither the field nor the winner", c.ID, msg)
			}
		}
		return nil
	})

	// cluster-1 turns headless: a type conflict, and cluster-2's ClusterSetIP still wins.
	if err := c1.Kube.CoreV1().Services(ns).Delete(s.ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	headless := service(ns, name, corev1.ServiceTypeClusterIP, port("pg", 5432))
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	s.createService(t, c1, headless)
	eventually(t, "TypeConflict on both exports", func() error {
		for _, c := range []*harness.Cluster{c1, c2} {
			if err := s.checkConditions(c, ns, name, "Conflict=True/TypeConflict,PortConflict"); err != nil {
				return err
			}
		}
		return nil
	})
	eventually(t, "the oldest export's type everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, want) })
	})
}

// testImportLifecycle: the import survives while any export remains; unexporting removes
// that cluster's slices everywhere at once, the last unexport removes everything.
func (s *suite) testImportLifecycle(t *testing.T) {
	const ns, name = "lifecycle", "api"
	s.namespace(t, ns)
	c1, c3 := s.cluster("cluster-1"), s.cluster("cluster-3")
	for i, c := range []*harness.Cluster{c1, c3} {
		s.createService(t, c, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
		s.createSlice(t, c, ns, name, "api-x", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips(fmt.Sprintf("10.4%d", i), 2))
		s.export(t, c, ns, name)
	}
	both := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1", "cluster-3"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.40", 2)), "cluster-3": addresses(ips("10.41", 2))}}
	eventually(t, "import from both", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, both) })
	})

	// A hand edit that steers the derived Service elsewhere (external IPs) is undone, in
	// place: same Service, same VIP. (A selector is removed the same way, but the
	// EndpointSlice controller leaves behind the slices it made meanwhile: not ours to delete.)
	c2 := s.cluster("cluster-2")
	before, err := s.importStateOf(c2, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c2.Kube.CoreV1().Services(ns).Get(s.ctx, before.derived, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.ExternalIPs = []string{"192.0.2.10"}
	if _, err := c2.Kube.CoreV1().Services(ns).Update(s.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hand-edited derived Service repaired", func() error {
		got, err := c2.Kube.CoreV1().Services(ns).Get(s.ctx, before.derived, metav1.GetOptions{})
		switch {
		case err != nil:
			return err
		case len(got.Spec.ExternalIPs) > 0:
			return fmt.Errorf("externalIPs %v still set", got.Spec.ExternalIPs)
		case got.UID != before.serviceUID || !slices.Equal(got.Spec.ClusterIPs, before.ips):
			return fmt.Errorf("derived Service replaced: UID %s VIPs %v, was %s %v", got.UID, got.Spec.ClusterIPs, before.serviceUID, before.ips)
		}
		return nil
	})

	s.unexport(t, c1, ns, name)
	only3 := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": addresses(ips("10.41", 2))}}
	eventually(t, "import from cluster-3 only", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, only3) })
	})

	s.unexport(t, c3, ns, name)
	eventually(t, "import gone after the last unexport", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkGone(c, ns, name) })
	})
}

// testLargeAndSplitServices: more than 1,000 endpoints, and a service with several source
// slices of both families, are mirrored completely under deterministic names.
func (s *suite) testLargeAndSplitServices(t *testing.T) {
	const ns = "large"
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}

	big := ips("10.50", 1500)
	s.createService(t, c2, service(ns, "big", corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c2, ns, "big", "big-a", discoveryv1.AddressTypeIPv4, http, big[:1000])
	s.createSlice(t, c2, ns, "big", "big-b", discoveryv1.AddressTypeIPv4, http, big[1000:])
	s.export(t, c2, ns, "big")

	split := ips("10.51", 250)
	var v6 []endpoint
	for i := range 10 {
		v6 = append(v6, endpoint{ip: fmt.Sprintf("fd00::%x", i+1)})
	}
	s.createService(t, c1, service(ns, "split", corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c1, ns, "split", "split-a", discoveryv1.AddressTypeIPv4, http, split[:100])
	s.createSlice(t, c1, ns, "split", "split-b", discoveryv1.AddressTypeIPv4, http, split[100:200])
	s.createSlice(t, c1, ns, "split", "split-c", discoveryv1.AddressTypeIPv4, http, split[200:])
	s.createSlice(t, c1, ns, "split", "split-v6", discoveryv1.AddressTypeIPv6, http, v6)
	s.export(t, c1, ns, "split")

	// The documented names: derived-<h>-<cluster>, then .2, .3, ... per 100 endpoints (the
	// default --max-endpoints-per-slice); the non-primary family gets .ipv6.
	bigBase := desired.DerivedServiceName("big") + "-cluster-2"
	bigNames := []string{bigBase}
	for i := 2; i <= 15; i++ {
		bigNames = append(bigNames, fmt.Sprintf("%s.%d", bigBase, i))
	}
	slices.Sort(bigNames)
	splitBase := desired.DerivedServiceName("split") + "-cluster-1"
	splitNames := []string{splitBase, splitBase + ".2", splitBase + ".3", splitBase + ".ipv6"}
	eventually(t, "large and split services mirrored everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			if err := s.checkImport(c, ns, "big", imported{
				typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-2"},
				eps: map[string][]string{"cluster-2": addresses(big)}, sliceNames: bigNames,
			}); err != nil {
				return err
			}
			return s.checkImport(c, ns, "split", imported{
				typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
				eps: map[string][]string{"cluster-1": addresses(append(slices.Clone(split), v6...))}, sliceNames: splitNames,
			})
		})
	})
}

// testMissingNamespace: a member without the namespace is skipped, not given the namespace;
// once the namespace appears, the import follows.
func (s *suite) testMissingNamespace(t *testing.T) {
	const ns, name = "partial", "p"
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	s.namespace(t, ns, c1, c2)
	s.createService(t, c1, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c1, ns, name, "p-1", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips("10.60", 1))
	s.export(t, c1, ns, name)
	want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.60", 1))}}
	eventually(t, "import where the namespace exists", func() error {
		for _, c := range []*harness.Cluster{c1, c2} {
			if err := s.checkImport(c, ns, name, want); err != nil {
				return err
			}
		}
		return s.checkConditions(c1, ns, name, "Ready=True/Exported")
	})
	if _, err := c3.Kube.CoreV1().Namespaces().Get(s.ctx, ns, metav1.GetOptions{}); err == nil {
		t.Fatalf("the syncer created namespace %s in cluster-3", ns)
	}
	s.namespace(t, ns, c3)
	eventually(t, "import once the namespace exists", func() error { return s.checkImport(c3, ns, name, want) })
}

// testClash: a ServiceImport the syncer does not manage is left alone and the clash is
// reported as an Event on it; the other clusters import normally.
func (s *suite) testClash(t *testing.T) {
	const ns, name = "clash", "taken"
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	foreign := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"owner": "someone-else"}},
		Spec: mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ClusterSetIP, IPs: []string{"10.99.99.99"},
			Ports: []mcsv1alpha1.ServicePort{{Name: "x", Protocol: corev1.ProtocolTCP, Port: 1}}},
	}
	foreign, err := c2.MCS.MulticlusterV1alpha1().ServiceImports(ns).Create(s.ctx, foreign, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.createService(t, c1, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c1, ns, name, "taken-1", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips("10.70", 1))
	s.export(t, c1, ns, name)
	want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.70", 1))}}
	eventually(t, "import in the clusters without the clash", func() error {
		for _, c := range []*harness.Cluster{c1, s.cluster("cluster-3")} {
			if err := s.checkImport(c, ns, name, want); err != nil {
				return err
			}
		}
		return nil
	})
	eventually(t, "an Event on the foreign import", func() error {
		events, err := c2.Kube.CoreV1().Events(ns).List(s.ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return err
		}
		for _, e := range events.Items {
			if e.Reason == "ImportClash" && e.Type == corev1.EventTypeWarning {
				return nil
			}
		}
		return fmt.Errorf("no ImportClash event among %d", len(events.Items))
	})
	got, err := c2.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("the foreign ServiceImport was written: %+v", got)
	}
	if _, err := c2.Kube.CoreV1().Services(ns).Get(s.ctx, desired.DerivedServiceName(name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("cluster-2 holds a derived Service next to the foreign import (%v)", err)
	}
	if s.mode == app.ModeHub {
		// The hub sees the clash and reports it on the export.
		eventually(t, "Ready=False on the export", func() error {
			return s.checkConditions(c1, ns, name, "Ready=False/Failed")
		})
	}
}
