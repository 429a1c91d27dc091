package source

import (
	"runtime"
	"testing"

	"k8s.io/client-go/tools/cache"

	"github.com/clusterset/clusterset/syncer/informers"
)

// BenchmarkCachedBytes measures what a member's cache holds per Service and per endpoint:
// realistic objects, decoded afresh, go through a transform into an informer store; the
// live heap is read after a GC. "untrimmed" keeps objects as served, "generic" is the
// transform every informer had (managedFields, last-applied and Service status dropped),
// "member" the member transforms, for a remote member and for one that is also a target
// (which keeps nodeName and targetRef).
func BenchmarkCachedBytes(b *testing.B) {
	const services, slices, perSlice = 2000, 200, 100
	transforms := []struct {
		name          string
		service, sl   cache.TransformFunc
		keepsNodeRefs bool
	}{
		{"untrimmed", nil, nil, true},
		{"generic", informers.Trim, informers.Trim, true},
		{"member/remote", trimService, sliceTrimmer(false), false},
		{"member/target", trimService, sliceTrimmer(true), true},
	}
	for _, tr := range transforms {
		b.Run(tr.name+"/service", func(b *testing.B) {
			perObject(b, services, "B/service", func(i int) any { return realisticService(i) }, tr.service)
		})
		b.Run(tr.name+"/endpoint", func(b *testing.B) {
			perObject(b, slices, "B/endpoint", func(i int) any { return realisticSlice(i, i*perSlice, perSlice) }, tr.sl)
		})
	}
}

// perObject fills a store with n objects made by make through transform, and reports the
// live heap it holds per object as unit (per endpoint: divided by the endpoints per slice).
func perObject(b *testing.B, n int, unit string, make func(i int) any, transform cache.TransformFunc) {
	var total float64
	for b.Loop() {
		store := cache.NewStore(cache.MetaNamespaceKeyFunc)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			obj := make(i)
			if transform != nil {
				obj, _ = transform(obj)
			}
			_ = store.Add(obj)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		per := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
		if unit == "B/endpoint" {
			per /= 100
		}
		total += per
		runtime.KeepAlive(store)
	}
	b.ReportMetric(total/float64(b.N), unit)
}
