package clusterset

import (
	"context"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsfake "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned/fake"
)

func TestMain(m *testing.M) {
	// mcs-api's fake clientset cannot serve WatchList; unit tests only: with WatchList on, its informers never report synced.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

func clusterSetIP(ns, name string, ips []string, ports ...mcs.ServicePort) *mcs.ServiceImport {
	return &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       mcs.ServiceImportSpec{Type: mcs.ClusterSetIP, IPs: ips, Ports: ports},
	}
}

func headless(ns, name string, ports ...mcs.ServicePort) *mcs.ServiceImport {
	return &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       mcs.ServiceImportSpec{Type: mcs.Headless, Ports: ports},
	}
}

func importPort(name string, proto corev1.Protocol, port int32) mcs.ServicePort {
	return mcs.ServicePort{Name: name, Protocol: proto, Port: port}
}

func slicePort(name string, proto corev1.Protocol, port int32) discovery.EndpointPort {
	return discovery.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
}

// mcsSlice is an EndpointSlice as the syncer writes it for svc from cluster.
func mcsSlice(ns, name, svc, cluster string, af discovery.AddressType, ports []discovery.EndpointPort, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{
			mcs.LabelServiceName:       svc,
			mcs.LabelSourceCluster:     cluster,
			discovery.LabelServiceName: "derived-" + svc,
		}},
		AddressType: af,
		Ports:       ports,
		Endpoints:   eps,
	}
}

// ready, notReady and unknown are the three states of an endpoint's ready condition.
var (
	yes, no  = true, false
	ready    = &yes
	notReady = &no
	unknown  *bool
)

func ep(readiness *bool, hostname string, addrs ...string) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: addrs, Conditions: discovery.EndpointConditions{Ready: readiness}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

// fakeClients splits objs between a Kubernetes and an mcs-api fake clientset.
func fakeClients(objs ...runtime.Object) (*k8sfake.Clientset, *mcsfake.Clientset) {
	var kube, mc []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*mcs.ServiceImport); ok {
			mc = append(mc, o)
		} else {
			kube = append(kube, o)
		}
	}
	return k8sfake.NewClientset(kube...), mcsfake.NewSimpleClientset(mc...)
}

// startPlugin runs a plugin for zones over fake clientsets holding objs, and waits until it is
// ready. The source is returned so tests can inspect its caches.
func startPlugin(t *testing.T, cs *Clusterset, objs ...runtime.Object) (*source, *k8sfake.Clientset, *mcsfake.Clientset) {
	t.Helper()
	kube, mc := fakeClients(objs...)
	src := newSource(kube, mc)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go src.run(ctx, cs.update)
	waitFor(t, "plugin ready", cs.Ready)
	return src, kube, mc
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, 20*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// changes turns API objects into what source.takeChanged returns after they were added, for
// tests that index without informers.
func changes(objs ...runtime.Object) map[string]*service {
	imports := map[string]*cachedImport{}
	bySlice := map[string][]*cachedSlice{}
	for _, o := range objs {
		switch o := o.(type) {
		case *mcs.ServiceImport:
			c, _ := toCachedImport(o)
			imports[o.Namespace+"/"+o.Name] = c.(*cachedImport)
		case *discovery.EndpointSlice:
			if _, ok := o.Labels[mcs.LabelServiceName]; ok { // the label selector
				c, _ := toCachedSlice(o)
				bySlice[sliceImportKey(c)] = append(bySlice[sliceImportKey(c)], c.(*cachedSlice))
			}
		}
	}
	out := map[string]*service{}
	for key, imp := range imports {
		if svc, ok := newService(imp, bySlice[key]); ok {
			out[imp.name+"."+imp.namespace] = &svc
		}
	}
	return out
}
