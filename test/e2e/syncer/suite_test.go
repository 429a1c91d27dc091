package syncer

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

const (
	// ttl is the syncers' --member-ttl: short, so that stale-member tests are quick.
	ttl = 4 * time.Second
	// resync is the syncers' resync period: short, so that the zero-write test sees several.
	resync = 3 * time.Second
	// timeout bounds every wait for convergence.
	timeout = 60 * time.Second
)

// suite is a localenv clusterset with its syncers, in one mode.
type suite struct {
	ctx       context.Context
	mode      string
	clusters  []*harness.Cluster
	memberDir string
	// syncers by the ID of the cluster they run in: all three in pull mode, cluster-1 in hub mode.
	syncers map[string]*harness.InProcess
}

func newSuite(t *testing.T, mode string, controllerManager bool) *suite {
	return newSuiteWith(t, mode, localenv.Options{Clusters: 3, ControllerManager: controllerManager})
}

// newSuiteWith is newSuite on a clusterset started with opts.
func newSuiteWith(t *testing.T, mode string, opts localenv.Options) *suite {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	ctx := klog.NewContext(context.Background(), ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(1))))
	env := localenv.StartT(t, opts)
	clusters, err := harness.Clusters(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := harness.MemberDir(t.TempDir(), clusters)
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{ctx: ctx, mode: mode, clusters: clusters, memberDir: dir, syncers: map[string]*harness.InProcess{}}
	for _, c := range s.syncerClusters() {
		s.startSyncer(t, c)
	}
	t.Cleanup(func() {
		for id := range s.syncers {
			s.stopSyncer(t, id)
		}
	})
	return s
}

// syncerClusters are the clusters a syncer runs in.
func (s *suite) syncerClusters() []*harness.Cluster {
	if s.mode == app.ModeHub {
		return s.clusters[:1]
	}
	return s.clusters
}

func (s *suite) options(c *harness.Cluster) app.Options {
	o := harness.Options(c, s.mode, s.memberDir, ttl)
	o.ResyncPeriod = resync
	return o
}

func (s *suite) startSyncer(t *testing.T, c *harness.Cluster) {
	s.syncers[c.ID] = harness.StartInProcess(s.ctx, s.options(c))
}

func (s *suite) stopSyncer(t *testing.T, id string) {
	if err := s.syncers[id].Stop(); err != nil {
		t.Errorf("syncer in %s: %v", id, err)
	}
	delete(s.syncers, id)
}

func (s *suite) cluster(id string) *harness.Cluster {
	for _, c := range s.clusters {
		if c.ID == id {
			return c
		}
	}
	panic("no cluster " + id)
}

// namespace creates a namespace in the given clusters (all when none are given).
func (s *suite) namespace(t *testing.T, name string, in ...*harness.Cluster) {
	if len(in) == 0 {
		in = s.clusters
	}
	for _, c := range in {
		if err := c.EnsureNamespace(s.ctx, name); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls check until it succeeds, failing the test with its last error on timeout.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %v: %v", what, timeout, last)
	}
}

// inAll runs check for every cluster and joins the errors.
func (s *suite) inAll(check func(c *harness.Cluster) error) error {
	var errs []string
	for _, c := range s.clusters {
		if err := check(c); err != nil {
			errs = append(errs, c.ID+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// port is a Service port; the target port is the port plus 8000.
func port(name string, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: p}
}

func (s *suite) createService(t *testing.T, c *harness.Cluster, svc *corev1.Service) {
	t.Helper()
	if _, err := c.Kube.CoreV1().Services(svc.Namespace).Create(s.ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func service(ns, name string, typ corev1.ServiceType, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Ports: ports}}
}

func (s *suite) export(t *testing.T, c *harness.Cluster, ns, name string) {
	t.Helper()
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if _, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(s.ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) unexport(t *testing.T, c *harness.Cluster, ns, name string) {
	t.Helper()
	if err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Delete(s.ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// endpoint is a ready source endpoint; hostname is optional.
type endpoint struct{ ip, hostname string }

// createSlice creates a source EndpointSlice of service svc, one port per name (port 8000+i).
func (s *suite) createSlice(t *testing.T, c *harness.Cluster, ns, svc, name string, family discoveryv1.AddressType,
	ports []discoveryv1.EndpointPort, eps []endpoint) {
	t.Helper()
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
		Ports:       ports,
	}
	for _, e := range eps {
		ep := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
		if e.hostname != "" {
			ep.Hostname = ptr.To(e.hostname)
		}
		slice.Endpoints = append(slice.Endpoints, ep)
	}
	if _, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Create(s.ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func slicePort(name string, p int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(p)}
}

// ips returns n addresses prefix.<i/250>.<i%250+1>, i from 0.
func ips(prefix string, n int) []endpoint {
	var out []endpoint
	for i := range n {
		out = append(out, endpoint{ip: fmt.Sprintf("%s.%d.%d", prefix, i/250, i%250+1)})
	}
	return out
}

func addresses(eps []endpoint) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e.ip)
	}
	slices.Sort(out)
	return out
}

// imported is what an import must look like in every cluster.
type imported struct {
	typ      mcsv1alpha1.ServiceImportType
	ports    []string            // "name/PROTOCOL/port", sorted
	clusters []string            // status.clusters, sorted
	eps      map[string][]string // source cluster -> sorted addresses
	// hostnames, when set, maps addresses to the hostnames their endpoints must keep.
	hostnames map[string]string
	// sliceNames, when set, are the exact names of the mirrored slices, sorted.
	sliceNames []string
}

// checkImport checks the ServiceImport, the derived Service (the one the import's
// annotation names, which must be one of the service's derived names) and the mirrored
// slices of ns/name in c.
func (s *suite) checkImport(c *harness.Cluster, ns, name string, w imported) error {
	si, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	derivedName := si.Annotations[desired.DerivedServiceAnnotation]
	if !slices.Contains(desired.DerivedServiceNames(name), derivedName) {
		return fmt.Errorf("%s/%s: import annotation %s=%q is none of the service's derived names %v",
			ns, name, desired.DerivedServiceAnnotation, derivedName, desired.DerivedServiceNames(name))
	}
	svc, err := c.Kube.CoreV1().Services(ns).Get(s.ctx, derivedName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if si.Spec.Type != w.typ {
		fail("import type %s, want %s", si.Spec.Type, w.typ)
	}
	var ports []string
	for _, p := range si.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s/%s/%d", p.Name, p.Protocol, p.Port))
	}
	if !slices.Equal(ports, w.ports) {
		fail("import ports %v, want %v", ports, w.ports)
	}
	var clusters []string
	for _, cl := range si.Status.Clusters {
		clusters = append(clusters, cl.Cluster)
	}
	if !slices.Equal(clusters, w.clusters) {
		fail("import status.clusters %v, want %v", clusters, w.clusters)
	}
	if !desired.IsManaged(si) || !desired.IsManaged(svc) {
		fail("import or derived Service without the managed-by label")
	}
	if len(svc.Spec.Selector) != 0 || svc.Spec.Type != corev1.ServiceTypeClusterIP ||
		svc.Labels[mcsv1alpha1.LabelServiceName] != name || svc.Labels[desired.ServiceImportedLabel] != "true" {
		fail("derived Service type %s, selector %v, labels %v", svc.Spec.Type, svc.Spec.Selector, svc.Labels)
	}
	switch w.typ {
	case mcsv1alpha1.ClusterSetIP:
		if len(si.Spec.IPs) == 0 || !slices.Equal(si.Spec.IPs, svc.Spec.ClusterIPs) {
			fail("import ips %v, derived Service clusterIPs %v", si.Spec.IPs, svc.Spec.ClusterIPs)
		}
		if len(si.Spec.IPFamilies) != len(si.Spec.IPs) {
			fail("import ipFamilies %v for ips %v", si.Spec.IPFamilies, si.Spec.IPs)
		}
	case mcsv1alpha1.Headless:
		if len(si.Spec.IPs) != 0 || svc.Spec.ClusterIP != corev1.ClusterIPNone {
			fail("headless import ips %v, derived clusterIP %s", si.Spec.IPs, svc.Spec.ClusterIP)
		}
	}

	list, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{
		LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
	if err != nil {
		return err
	}
	got := map[string][]string{}
	var names []string
	for _, sl := range list.Items {
		src := sl.Labels[mcsv1alpha1.LabelSourceCluster]
		names = append(names, sl.Name)
		if sl.Labels[discoveryv1.LabelServiceName] != derivedName || sl.Labels[discoveryv1.LabelManagedBy] != desired.ManagerName {
			fail("slice %s labels %v", sl.Name, sl.Labels)
		}
		if !strings.HasPrefix(sl.Name, derivedName+"-"+src) {
			fail("slice %s of source cluster %q", sl.Name, src)
		}
		for _, ep := range sl.Endpoints {
			got[src] = append(got[src], ep.Addresses...)
			if h, ok := w.hostnames[ep.Addresses[0]]; ok && ptr.Deref(ep.Hostname, "") != h {
				fail("endpoint %s hostname %q, want %q", ep.Addresses[0], ptr.Deref(ep.Hostname, ""), h)
			}
		}
	}
	for src := range got {
		slices.Sort(got[src])
	}
	if !maps.EqualFunc(got, w.eps, slices.Equal) {
		fail("mirrored endpoints %s, want %s", summarize(got), summarize(w.eps))
	}
	slices.Sort(names)
	if w.sliceNames != nil && !slices.Equal(names, w.sliceNames) {
		fail("slice names %v, want %v", names, w.sliceNames)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s/%s: %s", ns, name, strings.Join(problems, "; "))
	}
	return nil
}

// summarize prints endpoints per cluster briefly: count, first and last.
func summarize(eps map[string][]string) string {
	var parts []string
	for _, src := range slices.Sorted(maps.Keys(eps)) {
		a := eps[src]
		parts = append(parts, fmt.Sprintf("%s:%d[%s..%s]", src, len(a), a[0], a[len(a)-1]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// checkGone checks that nothing the syncer writes exists for ns/name in c.
func (s *suite) checkGone(c *harness.Cluster, ns, name string) error {
	if _, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return fmt.Errorf("ServiceImport %s/%s still there (%v)", ns, name, err)
	}
	for _, d := range desired.DerivedServiceNames(name) {
		if svc, err := c.Kube.CoreV1().Services(ns).Get(s.ctx, d, metav1.GetOptions{}); !apierrors.IsNotFound(err) &&
			(err != nil || svc.Labels[mcsv1alpha1.LabelServiceName] == name) {
			return fmt.Errorf("derived Service %s of %s/%s still there (%v)", d, ns, name, err)
		}
	}
	list, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
	if err != nil {
		return err
	}
	if len(list.Items) > 0 {
		return fmt.Errorf("%d mirrored slices of %s/%s still there", len(list.Items), ns, name)
	}
	return nil
}

// checkConditions checks an export's conditions: each of want is "Type=Status/Reason", and a
// Reason may be a comma-separated list the actual reason must contain all of.
func (s *suite) checkConditions(c *harness.Cluster, ns, name string, want ...string) error {
	se, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, w := range want {
		typ, rest, _ := strings.Cut(w, "=")
		status, reasons, _ := strings.Cut(rest, "/")
		cond := meta.FindStatusCondition(se.Status.Conditions, typ)
		if cond == nil {
			return fmt.Errorf("export %s/%s has no %s condition: %+v", ns, name, typ, se.Status.Conditions)
		}
		if string(cond.Status) != status {
			return fmt.Errorf("export %s/%s %s=%s (%s: %s), want %s", ns, name, typ, cond.Status, cond.Reason, cond.Message, status)
		}
		for _, r := range strings.Split(reasons, ",") {
			if !slices.Contains(strings.Split(cond.Reason, ","), r) {
				return fmt.Errorf("export %s/%s %s reason %q, want it to include %q", ns, name, typ, cond.Reason, r)
			}
		}
	}
	return nil
}

// condition returns an export's condition (nil when missing or on error).
func (s *suite) condition(c *harness.Cluster, ns, name, typ string) *metav1.Condition {
	se, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return meta.FindStatusCondition(se.Status.Conditions, typ)
}
