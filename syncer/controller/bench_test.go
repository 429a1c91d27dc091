package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsfake "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned/fake"

	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/source"
)

// benchController is a controller whose one member exports n services spread over 100
// namespaces; no worker runs, so the queue only fills.
func benchController(b *testing.B, n int, o Options) (*Controller, *source.Cluster) {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	var exports []runtime.Object
	for i := range n {
		exports = append(exports, &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{
			Namespace: fmt.Sprintf("ns-%d", i%100), Name: fmt.Sprintf("svc-%d", i),
			CreationTimestamp: metav1.Unix(int64(i), 0)}})
	}
	o.Metrics = metrics.New()
	c := New(o)
	m := source.New("c1", k8sfake.NewClientset(), mcsfake.NewSimpleClientset(exports...), c.Enqueue, source.Options{})
	m.Run(ctx)
	c.AddMember(ctx, m)
	if !cache.WaitForCacheSync(ctx.Done(), c.allJoined) {
		b.Fatal("not synced")
	}
	// Drain what the informer's initial events queue, until it is quiet.
	for quiet := 0; quiet < 20; {
		if c.queue.Len() == 0 {
			quiet++
			time.Sleep(10 * time.Millisecond)
			continue
		}
		quiet = 0
		key, _ := c.queue.Get()
		c.queue.Done(key)
	}
	return c, m
}

// BenchmarkEnqueueNamespace: a namespace appearing in a target schedules its services; the
// cost must follow the namespace's services, not every export.
func BenchmarkEnqueueNamespace(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("exports=%d", n), func(b *testing.B) {
			c, _ := benchController(b, n, Options{})
			b.ResetTimer()
			for b.Loop() {
				c.EnqueueNamespace("ns-7")
			}
			if got := c.queue.Len(); got != n/100 {
				b.Fatalf("%d keys queued, want %d", got, n/100)
			}
		})
	}
}

// BenchmarkAdmissionAfterExportEvent: the admission work of the first reconcile after an
// export was added or deleted (a mass unexport pays it per reconcile), for a member within
// its export limit.
func BenchmarkAdmissionAfterExportEvent(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("exports=%d", n), func(b *testing.B) {
			c, m := benchController(b, n, Options{MaxExportsPerMember: 2 * n})
			logger := klog.Background()
			c.admission.refresh(logger, m)
			b.ResetTimer()
			for b.Loop() {
				c.admission.mu.Lock()
				e := c.admission.byMember[m.ID]
				e.version-- // as if an export event had come since
				c.admission.byMember[m.ID] = e
				c.admission.mu.Unlock()
				if changed := c.admission.refresh(logger, m); len(changed) != 0 {
					b.Fatalf("admission changed for %v", changed)
				}
			}
		})
	}
}
