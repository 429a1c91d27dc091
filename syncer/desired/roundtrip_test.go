package desired_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/localenv"
)

// TestRoundTripThroughAPIServer writes the desired objects into a real
// apiserver, computed from sources that a real EndpointSlice controller
// produced, and checks that the apiserver accepts them and that, once it has
// applied its defaults and allocations, the equality helpers see no
// difference: a resync makes no write.
func TestRoundTripThroughAPIServer(t *testing.T) {
	env := localenv.StartT(t, localenv.Options{Clusters: 1, ControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := env.Clusters[0]
	rt := &roundTrip{t: t, ctx: ctx, c: c, pods: map[string]int{},
		kube: kubernetes.NewForConfigOrDie(c.Config), mcs: mcsclient.NewForConfigOrDie(c.Config)}

	rt.source(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: ptr("http")},
				{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP},
			},
			SessionAffinity: corev1.ServiceAffinityClientIP, // the apiserver defaults the timeout
		},
	}, map[string]string{"tier": "frontend"}, map[string]string{"10.244.1.5": "", "10.244.1.6": ""})
	rt.source(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}},
	}, nil, map[string]string{"10.244.1.7": "db-0"})

	for _, name := range []string{"web", "db"} {
		t.Run(name, func(t *testing.T) {
			rt.t = t
			exports := rt.exports(name)
			s, conds := desired.Merge("default", name, exports)
			if s == nil {
				t.Fatalf("no merged service: %v", conds)
			}
			if name == "db" {
				sl := mirror(s, exports, 0)
				if len(sl) != 1 || sl[0].Endpoints[0].Hostname == nil || *sl[0].Endpoints[0].Hostname != "db-0" {
					t.Errorf("the headless endpoint's hostname is not mirrored: %+v", sl)
				}
			}
			rt.write(s, exports, conds[rt.c.ID])
			// Resync: recompute from the sources as they are now.
			exports = rt.exports(name)
			s, conds = desired.Merge("default", name, exports)
			rt.check(s, exports, conds[rt.c.ID])
		})
	}

	t.Run("split and dual-stack slice names", func(t *testing.T) {
		rt.t = t
		exports := rt.exports("web")
		var v4, v6 []discoveryv1.Endpoint
		for i := range 1500 {
			v4 = append(v4, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.245.%d.%d", i/200, i%200+1)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
		}
		for i := range 3 {
			v6 = append(v6, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("fd00::%x", i+1)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
		}
		ports := exports[0].Slices[0].Ports
		exports[0].Slices = append(exports[0].Slices,
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: v4[:900]},
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: v4[900:]},
			&discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv6, Ports: ports, Endpoints: v6},
		)
		// Into a namespace of its own, beside the "web" subtest's slices.
		_, err := rt.kube.CoreV1().Namespaces().Create(rt.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "split"}}, metav1.CreateOptions{})
		rt.must(err)
		s, _ := desired.Merge("split", "web", exports)
		want := mirror(s, exports, desired.MaxEndpointsPerSlice)
		base := desired.DerivedServiceName("web") + "-" + rt.c.ID
		if got := names(want); !slices.Equal(got, []string{base, base + ".2", base + ".ipv6"}) {
			t.Fatalf("slice names %v", got)
		}
		rt.writeSlices(want)
		rt.checkSlices("split", "web", want)
	})
}

type roundTrip struct {
	t    *testing.T
	ctx  context.Context
	c    *localenv.Cluster
	kube kubernetes.Interface
	mcs  mcsclient.Interface
	pods map[string]int // ready Pods per Service name
}

func ptr[T any](v T) *T { return &v }

func names(sl []*discoveryv1.EndpointSlice) []string {
	var out []string
	for _, s := range sl {
		out = append(out, s.Name)
	}
	return out
}

func (rt *roundTrip) must(err error) {
	rt.t.Helper()
	if err != nil {
		rt.t.Fatal(err)
	}
}

// source creates svc, its export and one ready Pod per IP (value: hostname).
func (rt *roundTrip) source(svc *corev1.Service, exportedLabels, pods map[string]string) {
	_, err := rt.kube.CoreV1().Services("default").Create(rt.ctx, svc, metav1.CreateOptions{})
	rt.must(err)
	export := &mcsv1alpha1.ServiceExport{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: "default"},
		Spec:       mcsv1alpha1.ServiceExportSpec{ExportedLabels: exportedLabels},
	}
	_, err = rt.mcs.MulticlusterV1alpha1().ServiceExports("default").Create(rt.ctx, export, metav1.CreateOptions{})
	rt.must(err)
	i := 0
	for ip, hostname := range pods {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", svc.Name, i), Namespace: "default", Labels: svc.Spec.Selector},
			Spec: corev1.PodSpec{Hostname: hostname, Subdomain: svc.Name,
				Containers: []corev1.Container{{Name: "c", Image: "c", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}},
		}
		if hostname == "" {
			pod.Spec.Subdomain = ""
		}
		_, err := rt.kube.CoreV1().Pods("default").Create(rt.ctx, pod, metav1.CreateOptions{})
		rt.must(err)
		rt.must(rt.c.MakePodReady(rt.ctx, "default", pod.Name, ip))
		i++
	}
	rt.pods[svc.Name] = len(pods)
}

// exports reads cluster c's view of export name, once the EndpointSlice
// controller has published every Pod of it.
func (rt *roundTrip) exports(name string) []desired.ClusterExport {
	rt.t.Helper()
	e := desired.ClusterExport{ClusterID: rt.c.ID}
	err := wait.PollUntilContextTimeout(rt.ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := rt.kube.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
		if err != nil {
			return false, err
		}
		e.Slices, e.Service, e.Export = nil, nil, nil
		n := 0
		for i := range list.Items {
			e.Slices = append(e.Slices, &list.Items[i])
			n += len(list.Items[i].Endpoints)
		}
		return n == rt.pods[name], nil
	})
	if err != nil {
		rt.t.Fatalf("waiting for %d endpoints of %s: %v; slices: %+v", rt.pods[name], name, err, e.Slices)
	}
	e.Service, err = rt.kube.CoreV1().Services("default").Get(rt.ctx, name, metav1.GetOptions{})
	rt.must(err)
	e.Export, err = rt.mcs.MulticlusterV1alpha1().ServiceExports("default").Get(rt.ctx, name, metav1.GetOptions{})
	rt.must(err)
	return []desired.ClusterExport{e}
}

// write creates every desired object of s and sets the export's conditions,
// as a writer starting from nothing does.
func (rt *roundTrip) write(s *desired.Service, exports []desired.ClusterExport, conds []metav1.Condition) {
	rt.t.Helper()
	derived, err := rt.kube.CoreV1().Services(s.Namespace).Create(rt.ctx, desired.DerivedService(s, desired.DerivedServiceName(s.Name), nil), metav1.CreateOptions{})
	rt.must(err)
	si := desired.ServiceImport(s, derived)
	created, err := rt.mcs.MulticlusterV1alpha1().ServiceImports(s.Namespace).Create(rt.ctx, si, metav1.CreateOptions{})
	rt.must(err)
	created.Status = si.Status
	_, err = rt.mcs.MulticlusterV1alpha1().ServiceImports(s.Namespace).UpdateStatus(rt.ctx, created, metav1.UpdateOptions{})
	rt.must(err)
	rt.writeSlices(mirror(s, exports, 0))

	export := exports[0].Export.DeepCopy()
	export.Status.Conditions, _ = desired.SetConditions(export.Status.Conditions, withReady(conds), metav1.Now())
	_, err = rt.mcs.MulticlusterV1alpha1().ServiceExports(s.Namespace).UpdateStatus(rt.ctx, export, metav1.UpdateOptions{})
	rt.must(err)
}

func withReady(conds []metav1.Condition) []metav1.Condition {
	var valid metav1.Condition
	for _, c := range conds {
		if c.Type == string(mcsv1alpha1.ServiceExportConditionValid) {
			valid = c
		}
	}
	return append(slices.Clone(conds), desired.ReadyCondition(valid, true, nil))
}

func (rt *roundTrip) writeSlices(sl []*discoveryv1.EndpointSlice) {
	rt.t.Helper()
	for _, s := range sl {
		_, err := rt.kube.DiscoveryV1().EndpointSlices(s.Namespace).Create(rt.ctx, s, metav1.CreateOptions{})
		rt.must(err)
	}
}

// check verifies that the stored objects already equal what s wants now.
func (rt *roundTrip) check(s *desired.Service, exports []desired.ClusterExport, conds []metav1.Condition) {
	t := rt.t
	t.Helper()
	want := desired.DerivedService(s, desired.DerivedServiceName(s.Name), nil)
	derived, err := rt.kube.CoreV1().Services(s.Namespace).Get(rt.ctx, want.Name, metav1.GetOptions{})
	rt.must(err)
	if !desired.DerivedServiceEqual(want, derived) || desired.NeedsRecreate(want, derived) {
		t.Errorf("derived Service differs after the apiserver's defaults:\nwant %+v\ngot  %+v", want.Spec, derived.Spec)
	}
	wantSI := desired.ServiceImport(s, derived)
	si, err := rt.mcs.MulticlusterV1alpha1().ServiceImports(s.Namespace).Get(rt.ctx, s.Name, metav1.GetOptions{})
	rt.must(err)
	if !desired.ServiceImportEqual(wantSI, si) || !desired.ServiceImportStatusEqual(wantSI, si) {
		t.Errorf("ServiceImport differs after a round trip:\nwant %+v\ngot  %+v", wantSI, si)
	}
	if s.Type == mcsv1alpha1.ClusterSetIP && (len(si.Spec.IPs) == 0 || !slices.Equal(si.Spec.IPs, derived.Spec.ClusterIPs)) {
		t.Errorf("ServiceImport ips %v, want the derived clusterIPs %v", si.Spec.IPs, derived.Spec.ClusterIPs)
	}
	if s.Type == mcsv1alpha1.Headless && len(si.Spec.IPs) != 0 {
		t.Errorf("headless ServiceImport has ips %v", si.Spec.IPs)
	}
	rt.checkSlices(s.Namespace, s.Name, mirror(s, exports, 0))

	export, err := rt.mcs.MulticlusterV1alpha1().ServiceExports(s.Namespace).Get(rt.ctx, s.Name, metav1.GetOptions{})
	rt.must(err)
	if _, changed := desired.SetConditions(export.Status.Conditions, withReady(conds), metav1.NewTime(time.Now().Add(time.Hour))); changed {
		t.Errorf("setting the same conditions again changes the stored ones: %+v", export.Status.Conditions)
	}
}

// checkSlices verifies that the syncer-managed slices of namespace/name are exactly want.
func (rt *roundTrip) checkSlices(namespace, name string, want []*discoveryv1.EndpointSlice) {
	t := rt.t
	t.Helper()
	list, err := rt.kube.DiscoveryV1().EndpointSlices(namespace).List(rt.ctx, metav1.ListOptions{
		LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name + "," + discoveryv1.LabelManagedBy + "=" + desired.ManagerName})
	rt.must(err)
	stored := map[string]*discoveryv1.EndpointSlice{}
	for i := range list.Items {
		stored[list.Items[i].Name] = &list.Items[i]
	}
	if len(stored) != len(want) {
		t.Errorf("%d stored slices, want %d (%v)", len(stored), len(want), names(want))
	}
	for _, w := range want {
		got, ok := stored[w.Name]
		if !ok {
			t.Errorf("slice %s not stored", w.Name)
			continue
		}
		if !desired.EndpointSliceEqual(w, got) {
			t.Errorf("slice %s differs after a round trip:\nwant %+v\ngot  %+v", w.Name, w, got)
		}
	}
}

// mirror is desired.EndpointSlices into cluster-1 under the seed name.
func mirror(s *desired.Service, exports []desired.ClusterExport, maxEndpoints int) []*discoveryv1.EndpointSlice {
	out, _ := desired.EndpointSlices(s, exports, desired.SliceOptions{
		DerivedName: desired.DerivedServiceName(s.Name), LocalCluster: "cluster-1", MaxEndpoints: maxEndpoints})
	return out
}
