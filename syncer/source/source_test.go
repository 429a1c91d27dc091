package source

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsfake "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned/fake"
)

func TestMain(m *testing.M) {
	// mcs-api's fake clientset cannot serve WatchList; unit tests only.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

// TestExportsVersionAndView: the version moves on an export added or deleted, not on a
// status update; the view of a key holds the export, its Service and its own slices.
func TestExportsVersionAndView(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube := k8sfake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}},
	)
	mcs := mcsfake.NewSimpleClientset()
	var mu sync.Mutex
	var enqueued []string
	c := New("c1", kube, mcs, func(key string) {
		mu.Lock()
		enqueued = append(enqueued, key)
		mu.Unlock()
	}, Options{Target: true})
	c.Run(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.HasSynced) {
		t.Fatal("caches not synced")
	}
	v0 := c.ExportsVersion()
	exports := mcs.MulticlusterV1alpha1().ServiceExports("ns")
	se, err := exports.Create(ctx, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually := func(what string, f func() bool) {
		t.Helper()
		if wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) { return f(), nil }) != nil {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
	eventually("export cached", func() bool { _, ok := c.Export("ns/web"); return ok })
	v1 := c.ExportsVersion()
	if v1 == v0 {
		t.Error("version unchanged by an added export")
	}
	e, _ := c.Export("ns/web")
	if e.ClusterID != "c1" || e.Service == nil || len(e.Slices) != 1 || len(c.ListExports()) != 1 {
		t.Errorf("view %+v, %d exports listed", e, len(c.ListExports()))
	}
	se.Status.Conditions = []metav1.Condition{{Type: "Valid", Status: metav1.ConditionTrue, Reason: "Valid", LastTransitionTime: metav1.Now()}}
	if _, err := exports.UpdateStatus(ctx, se, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("status seen", func() bool { e, _ := c.Export("ns/web"); return len(e.Export.Status.Conditions) == 1 })
	if c.ExportsVersion() != v1 {
		t.Error("version changed by a status update")
	}
	if err := exports.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("export gone", func() bool { _, ok := c.Export("ns/web"); return !ok })
	if c.ExportsVersion() == v1 {
		t.Error("version unchanged by a deleted export")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(enqueued, "ns/web") {
		t.Errorf("enqueued %v", enqueued)
	}
}

// TestUpdatesThatChangeNothingReadAreDropped: over the same member, a syncer that writes the
// exports' status and one that does not; a status write by someone else reaches only the
// first, a spec change and a Service port change reach both, a Service label change neither.
func TestUpdatesThatChangeNothingReadAreDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kube := k8sfake.NewClientset(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	mcs := mcsfake.NewSimpleClientset(&mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}})
	var mu sync.Mutex
	counts := map[bool]int{}
	clusters := map[bool]*Cluster{}
	for _, target := range []bool{false, true} {
		clusters[target] = New("c1", kube, mcs, func(string) { mu.Lock(); counts[target]++; mu.Unlock() }, Options{Target: target})
		clusters[target].Run(ctx)
		if !cache.WaitForCacheSync(ctx.Done(), clusters[target].HasSynced) {
			t.Fatal("caches not synced")
		}
	}
	settle := func() (others, owner int) {
		time.Sleep(300 * time.Millisecond) // informer events are asynchronous
		mu.Lock()
		defer mu.Unlock()
		others, owner = counts[false], counts[true]
		counts[false], counts[true] = 0, 0
		return others, owner
	}
	settle() // the initial adds
	exports := mcs.MulticlusterV1alpha1().ServiceExports("ns")
	se, err := exports.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	se.Status.Conditions = []metav1.Condition{{Type: "Valid", Status: metav1.ConditionTrue, Reason: "Valid", LastTransitionTime: metav1.Now()}}
	if se, err = exports.UpdateStatus(ctx, se, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if others, owner := settle(); others != 0 || owner != 1 {
		t.Errorf("a status write: %d reconciles in the other syncer, %d in the status owner; want 0, 1", others, owner)
	}
	se.Spec.ExportedLabels = map[string]string{"tier": "web"}
	if _, err = exports.Update(ctx, se, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if others, owner := settle(); others != 1 || owner != 1 {
		t.Errorf("a spec change: %d and %d reconciles, want 1 and 1", others, owner)
	}
	svcs := kube.CoreV1().Services("ns")
	svc, err := svcs.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels = map[string]string{"team": "a"}
	if svc, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if others, owner := settle(); others != 0 || owner != 0 {
		t.Errorf("a Service label: %d and %d reconciles, want none", others, owner)
	}
	svc.Spec.Ports[0].Port = 81
	if _, err = svcs.Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if others, owner := settle(); others != 1 || owner != 1 {
		t.Errorf("a Service port: %d and %d reconciles, want 1 and 1", others, owner)
	}
}
