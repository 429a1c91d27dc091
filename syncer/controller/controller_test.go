package controller

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsfake "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned/fake"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/syncer/source"
	"github.com/clusterset/clusterset/syncer/target"
)

func TestMain(m *testing.M) {
	// mcs-api's fake clientset cannot serve WatchList; unit tests only.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

const ttl = 400 * time.Millisecond

// fakeCluster is one cluster of fake clients.
type fakeCluster struct {
	id   string
	kube *k8sfake.Clientset
	mcs  *mcsfake.Clientset
}

func newFakeCluster(id string) *fakeCluster {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}
	return &fakeCluster{id: id, kube: k8sfake.NewClientset(ns), mcs: mcsfake.NewSimpleClientset()}
}

// left is what the syncer left in a target for ns/web: the import from c3 (ClientIP, one
// port), its derived Service with a VIP, and c3's mirrored slice.
func (f *fakeCluster) withLeftovers(t *testing.T) {
	ctx := context.Background()
	derived := desired.DerivedServiceName("web")
	si := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web",
			Labels:      map[string]string{desired.ManagedByLabel: desired.ManagerName},
			Annotations: map[string]string{desired.DerivedServiceAnnotation: derived}},
		Spec: mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ClusterSetIP, IPs: []string{"10.0.0.5"}, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			SessionAffinity: corev1.ServiceAffinityClientIP, InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			Ports: []mcsv1alpha1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
		Status: mcsv1alpha1.ServiceImportStatus{Clusters: []mcsv1alpha1.ClusterStatus{{Cluster: "c3"}}},
	}
	svc, _ := desired.Merge("ns", "web", []desired.ClusterExport{keptExport("c3", si, keptOldest, nil)})
	d := desired.DerivedService(svc, desired.DerivedServiceName("web"), nil)
	d.Spec.ClusterIP, d.Spec.ClusterIPs = "10.0.0.5", []string{"10.0.0.5"}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: derived + "-c3", Labels: map[string]string{
			discoveryv1.LabelServiceName: derived, mcsv1alpha1.LabelServiceName: "web",
			mcsv1alpha1.LabelSourceCluster: "c3", discoveryv1.LabelManagedBy: desired.ManagerName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.0.1"}}},
	}
	if _, err := f.mcs.MulticlusterV1alpha1().ServiceImports("ns").Create(ctx, si, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kube.CoreV1().Services("ns").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.kube.DiscoveryV1().EndpointSlices("ns").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startController runs a controller writing into targets, with the given members (a member
// that is also a target is sourced as one). Options left zero get the tests' defaults.
func startController(t *testing.T, o Options, targets []*fakeCluster, members ...*fakeCluster) *Controller {
	ctx, cancel := context.WithCancel(context.Background())
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.SyncTimeout == 0 {
		o.SyncTimeout = 5 * time.Second
	}
	if o.MemberTTL == 0 {
		o.MemberTTL = ttl
	}
	if o.Stale == nil {
		o.Stale = func(string) bool { return false }
	}
	c := New(o)
	for _, m := range members {
		src := source.New(m.id, m.kube, m.mcs, c.Enqueue, source.Options{Target: slices.Contains(targets, m)})
		src.Run(ctx)
		c.AddMember(ctx, src)
	}
	for _, tgt := range targets {
		tc := target.New(tgt.id, tgt.kube, tgt.mcs, o.Metrics, c)
		tc.Run(ctx)
		c.AddTarget(ctx, tc)
	}
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return c
}

type state struct{ importOK, serviceOK, sliceOK bool }

func (f *fakeCluster) state(t *testing.T) state {
	ctx := context.Background()
	derived := desired.DerivedServiceName("web")
	var s state
	si, err := f.mcs.MulticlusterV1alpha1().ServiceImports("ns").Get(ctx, "web", metav1.GetOptions{})
	s.importOK = err == nil && si.Spec.SessionAffinity == corev1.ServiceAffinityClientIP && len(si.Status.Clusters) == 1
	svc, err := f.kube.CoreV1().Services("ns").Get(ctx, derived, metav1.GetOptions{})
	s.serviceOK = err == nil && svc.Spec.ClusterIP == "10.0.0.5"
	_, err = f.kube.DiscoveryV1().EndpointSlices("ns").Get(ctx, derived+"-c3", metav1.GetOptions{})
	s.sliceOK = err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 5*time.Second, true,
		func(context.Context) (bool, error) { return f(), nil }); err != nil {
		t.Fatalf("%s: not within 5 s", what)
	}
}

// TestUnknownMemberKept: a restarted syncer that cannot see c3, the only exporter, keeps the
// import (with the winner's values), the derived Service and its VIP; it keeps c3's slice
// for the TTL, then withdraws it; once no candidate is undecided, everything is collected.
func TestUnknownMemberKept(t *testing.T) {
	c2 := newFakeCluster("c2")
	c2.withLeftovers(t)
	c := startController(t, Options{}, []*fakeCluster{c2}, c2)
	started := time.Now()
	waitFor(t, "the controller started", c.Started)
	time.Sleep(ttl / 2)
	if s := c2.state(t); s != (state{true, true, true}) {
		t.Fatalf("within the TTL: %+v, want everything kept", s)
	}
	waitFor(t, "c3's slice withdrawn after the TTL", func() bool { return !c2.state(t).sliceOK })
	if since := time.Since(started); since < ttl {
		t.Errorf("slice withdrawn after %v, before the TTL", since)
	}
	if s := c2.state(t); !s.importOK || !s.serviceOK {
		t.Fatalf("after the TTL: %+v, want the import and the Service kept", s)
	}
	for _, a := range c2.kube.Actions() {
		if a.GetVerb() == "delete" && a.GetResource().Resource == "services" {
			t.Fatalf("the derived Service was deleted: %v", a)
		}
	}
	c.SetUndecidedMembers(0)
	waitFor(t, "collected once every candidate is decided", func() bool {
		s := c2.state(t)
		return !s.importOK && !s.serviceOK
	})
}

// TestRemoveMember: a removed member's sole export is collected while other candidates are
// still undecided; an export another member shares stays.
func TestRemoveMember(t *testing.T) {
	ctx := context.Background()
	c2, c3 := newFakeCluster("c2"), newFakeCluster("c3")
	for _, f := range []*fakeCluster{c2, c3} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if f == c3 {
			svc.Name = "solo"
		}
		if _, err := f.kube.CoreV1().Services("ns").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: svc.Name}}
		if _, err := f.mcs.MulticlusterV1alpha1().ServiceExports("ns").Create(ctx, se, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := startController(t, Options{}, []*fakeCluster{c2}, c2, c3)
	imported := func(name string) bool {
		_, err := c2.mcs.MulticlusterV1alpha1().ServiceImports("ns").Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	waitFor(t, "both imported", func() bool { return imported("web") && imported("solo") })

	// New credentials for c3 whose caches never sync: c3 is unknown, nothing is collected.
	c.SetUndecidedMembers(0)
	unsynced := source.New("c3", k8sfake.NewClientset(), mcsfake.NewSimpleClientset(), c.Enqueue, source.Options{})
	c.AddMember(t.Context(), unsynced)
	c.EnqueueAll()
	time.Sleep(ttl)
	if !imported("solo") {
		t.Fatal("c3's export collected while its replacement syncs")
	}
	c.RemoveMember("c3")
	waitFor(t, "c3's sole export collected", func() bool { return !imported("solo") })
	if !imported("web") {
		t.Error("c2's export lost")
	}
}

// TestPolicyRefusals: an export in a denied namespace and one past the member's export
// limit are Valid=False and take no part; the oldest export is admitted.
func TestPolicyRefusals(t *testing.T) {
	ctx := context.Background()
	c2 := newFakeCluster("c2")
	for _, ns := range []string{"kube-system"} {
		if _, err := c2.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	exports := []struct {
		ns, name string
		age      time.Duration
	}{{"kube-system", "dns", 3 * time.Hour}, {"ns", "old", 2 * time.Hour}, {"ns", "new", time.Hour}}
	for _, e := range exports {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := c2.kube.CoreV1().Services(e.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: e.name,
			CreationTimestamp: metav1.NewTime(time.Now().Add(-e.age))}}
		if _, err := c2.mcs.MulticlusterV1alpha1().ServiceExports(e.ns).Create(ctx, se, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "old-1", Labels: map[string]string{discoveryv1.LabelServiceName: "old"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.0.2"}}, {Addresses: []string{"10.9.0.1"}}},
	}
	if _, err := c2.kube.DiscoveryV1().EndpointSlices("ns").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := startController(t, Options{Namespaces: policy.NewNamespaces(policy.DefaultDeniedNamespaces, nil),
		MaxExportsPerMember: 1, MaxEndpointsPerExport: 1}, []*fakeCluster{c2}, c2)
	valid := func(ns, name string) string {
		se, err := c2.mcs.MulticlusterV1alpha1().ServiceExports(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		for _, c := range se.Status.Conditions {
			if c.Type == string(mcsv1alpha1.ServiceExportConditionValid) {
				return fmt.Sprintf("%s/%s", c.Status, c.Reason)
			}
		}
		return "none"
	}
	want := map[string]string{
		"kube-system/dns": "False/" + policy.ReasonNamespaceNotAllowed, // denied, and not counted against the limit
		"ns/old":          "True/Valid",
		"ns/new":          "False/" + policy.ReasonExportLimitExceeded,
	}
	waitFor(t, "conditions set", func() bool {
		for _, e := range exports {
			if valid(e.ns, e.name) != want[e.ns+"/"+e.name] {
				return false
			}
		}
		return true
	})
	imported := func(ns, name string) bool {
		_, err := c2.mcs.MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}
	waitFor(t, "the admitted export imported", func() bool { return imported("ns", "old") })
	for _, e := range exports[:1] {
		if imported(e.ns, e.name) {
			t.Errorf("refused %s/%s imported", e.ns, e.name)
		}
	}
	if imported("ns", "new") {
		t.Error("refused ns/new imported")
	}
	// The endpoint limit keeps the first endpoint of the source slice.
	var mirrored []string
	waitFor(t, "the admitted export's endpoints mirrored", func() bool {
		list, err := c2.kube.DiscoveryV1().EndpointSlices("ns").List(ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=old"})
		if err != nil || len(list.Items) != 1 {
			return false
		}
		mirrored = nil
		for _, ep := range list.Items[0].Endpoints {
			mirrored = append(mirrored, ep.Addresses...)
		}
		return true
	})
	if len(mirrored) != 1 || mirrored[0] != "10.9.0.2" {
		t.Errorf("mirrored %v, want the first endpoint only", mirrored)
	}
	if got := counterValue(c.admission.limitedTotal.WithLabelValues("c2")); got != 1 {
		t.Errorf("endpoint limit counted %v times, want 1", got)
	}
	if got := counterValue(c.admission.refusedTotal.WithLabelValues("c2", policy.ReasonExportLimitExceeded)); got != 1 {
		t.Errorf("export limit counted %v times, want 1", got)
	}
	// The admitted export unexported: the refused one is admitted in its place, and once
	// the member is within its limit every export is.
	if err := c2.mcs.MulticlusterV1alpha1().ServiceExports("ns").Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ns/new admitted in place of ns/old", func() bool { return valid("ns", "new") == "True/Valid" && imported("ns", "new") })
	if err := c2.mcs.MulticlusterV1alpha1().ServiceExports("kube-system").Delete(ctx, "dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "old", CreationTimestamp: metav1.Now()}}
	if _, err := c2.mcs.MulticlusterV1alpha1().ServiceExports("ns").Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ns/old refused again, the limit crossed", func() bool {
		return valid("ns", "old") == "False/"+policy.ReasonExportLimitExceeded && valid("ns", "new") == "True/Valid"
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// TestDeadTargetDelaysOnlyItself: in hub mode, a target whose writes hang does not keep the
// others from being written, and the export's Ready waits for it rather than turning True.
func TestDeadTargetDelaysOnlyItself(t *testing.T) {
	ctx := context.Background()
	alive, dead := newFakeCluster("alive"), newFakeCluster("dead")
	release := make(chan struct{})
	dead.kube.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			<-release // blackholed: the write never returns until the test ends
		}
		return false, nil, nil
	})
	// Several services and a single worker: a worker held by the dead target would leave
	// the later services unwritten everywhere.
	names := []string{"web", "api", "db"}
	for _, n := range names {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: n},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if _, err := alive.kube.CoreV1().Services("ns").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: n}}
		if _, err := alive.mcs.MulticlusterV1alpha1().ServiceExports("ns").Create(ctx, se, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	startController(t, Options{Workers: 1, TargetTimeout: 100 * time.Millisecond}, []*fakeCluster{alive, dead}, alive, dead)
	// Cleanups run last first: the dead target answers again before the controller stops.
	t.Cleanup(func() { close(release) })
	start := time.Now()
	waitFor(t, "every service imported into the live target", func() bool {
		for _, n := range names {
			if _, err := alive.mcs.MulticlusterV1alpha1().ServiceImports("ns").Get(ctx, n, metav1.GetOptions{}); err != nil {
				return false
			}
		}
		return true
	})
	t.Logf("imported into the live target in %v", time.Since(start))
	got, err := alive.mcs.MulticlusterV1alpha1().ServiceExports("ns").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range got.Status.Conditions {
		if cond.Type == string(mcsv1alpha1.ServiceExportConditionReady) && cond.Status == metav1.ConditionTrue {
			t.Errorf("Ready=True while the dead target holds nothing: %+v", cond)
		}
	}
}
