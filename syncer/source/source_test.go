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
