package desired

import (
	"fmt"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// BenchmarkResync measures one service's full desired-state computation plus
// the writer's no-op checks (everything already stored), per service.
func BenchmarkResync(b *testing.B) {
	for _, endpoints := range []int{10, 1000} {
		b.Run(fmt.Sprintf("3clusters_x_%d_endpoints", endpoints), func(b *testing.B) {
			var exports []ClusterExport
			for c := 1; c <= 3; c++ {
				sl := sourceSlice("web-x", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{endpointPort("http", 8080)}, ipv4s(c, endpoints)...)
				exports = append(exports, clusterExport(fmt.Sprintf("cluster-%d", c), c, newService(), withSlices(sl)))
			}
			s, _ := Merge("default", "web", exports)
			derived := storedService(derivedService(s))
			stored := mirror(s, exports, MaxEndpointsPerSlice)
			b.ReportAllocs()
			for b.Loop() {
				s, _ := Merge("default", "web", exports)
				want := derivedService(s)
				si := ServiceImport(s, derived)
				slices := mirror(s, exports, MaxEndpointsPerSlice)
				if !DerivedServiceEqual(want, derived) || !ServiceImportEqual(si, si) || len(slices) != len(stored) {
					b.Fatal("resync would write")
				}
				for i := range slices {
					if !EndpointSliceEqual(slices[i], stored[i]) {
						b.Fatal("resync would write a slice")
					}
				}
			}
		})
	}
}
