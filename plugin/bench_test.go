package clusterset

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
)

// benchObjects is the dnsbench data set: n imports, every other one headless with 10 ready
// endpoints (5 per cluster), the others ClusterSetIP.
func benchObjects(n int) []kruntime.Object {
	var objs []kruntime.Object
	ports := []discovery.EndpointPort{slicePort("http", corev1.ProtocolTCP, 80)}
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		if i%2 == 0 {
			objs = append(objs, clusterSetIP("bench", name, []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)}, importPort("http", corev1.ProtocolTCP, 80)))
			continue
		}
		objs = append(objs, headless("bench", name, importPort("http", corev1.ProtocolTCP, 80)))
		for c := range 2 {
			var eps []discovery.Endpoint
			for e := range 5 {
				eps = append(eps, ep(ready, fmt.Sprintf("pod-%d", e), fmt.Sprintf("10.%d.%d.%d", 100+c, i/50, (i%50)*5+e+1)))
			}
			objs = append(objs, mcsSlice("bench", fmt.Sprintf("%s-c%d", name, c), name, fmt.Sprintf("cluster-%d", c+1), discovery.AddressTypeIPv4, ports, eps...))
		}
	}
	return objs
}

func BenchmarkServeDNS(b *testing.B) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	cs.update(changes(benchObjects(1000)...))
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"svc-0.bench.svc.clusterset.local.", dns.TypeA},
		{"svc-1.bench.svc.clusterset.local.", dns.TypeA},
		{"pod-0.cluster-1.svc-1.bench.svc.clusterset.local.", dns.TypeA},
		{"_http._tcp.svc-1.bench.svc.clusterset.local.", dns.TypeSRV},
		{"nope.bench.svc.clusterset.local.", dns.TypeA},
	} {
		b.Run(dns.TypeToString[q.qtype]+" "+q.name, func(b *testing.B) {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			w := &test.ResponseWriter{}
			ctx := context.Background()
			cs.ServeDNS(ctx, w, m) // the first query of a per-endpoint or SRV name builds it
			b.ReportAllocs()
			for b.Loop() {
				cs.ServeDNS(ctx, w, m)
			}
		})
	}
}

// BenchmarkUpdate measures publishing a change to one headless service among 1,000, and the
// first index of all of them.
func BenchmarkUpdate(b *testing.B) {
	all := changes(benchObjects(1000)...)
	one := map[string]*service{"svc-1.bench": all["svc-1.bench"]}
	b.Run("one service", func(b *testing.B) {
		cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
		cs.update(all)
		b.ReportAllocs()
		for b.Loop() {
			cs.update(one)
		}
	})
	b.Run("all services", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
			cs.update(all)
		}
	})
}

// BenchmarkIndexMemory reports the live heap of the index of 1,000 imports as built, and once
// every name has been asked for (which builds the per-endpoint and SRV names).
func BenchmarkIndexMemory(b *testing.B) {
	all := changes(benchObjects(1000)...)
	var built, every uint64
	for b.Loop() {
		before := liveHeap()
		snap := (*snapshot)(nil).update([]string{zone}, defaultTTL, 1, all)
		built = liveHeap() - before
		for _, imp := range allImports(snap) {
			allNames(imp.names[0])
		}
		every = liveHeap() - before
		runtime.KeepAlive(snap)
	}
	b.ReportMetric(float64(built)/(1<<20), "MiB-built")
	b.ReportMetric(float64(every)/(1<<20), "MiB-every-name")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
