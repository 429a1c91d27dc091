package recentwrites

import (
	"fmt"
	"testing"
)

// BenchmarkByIndex: one lookup while pending own writes of other services are not yet
// seen by the informer, as during a mass create (a cold start, a mass export).
func BenchmarkByIndex(b *testing.B) {
	for _, pending := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			s, _, _ := newStore(svc("a", "ua", "1", "x"))
			for i := range pending {
				s.Wrote(svc(fmt.Sprintf("w%d", i), fmt.Sprintf("uw%d", i), "2", fmt.Sprintf("app%d", i)))
			}
			b.ResetTimer()
			for b.Loop() {
				if got := s.ByIndex(byApp, "x"); len(got) != 1 {
					b.Fatalf("%d objects", len(got))
				}
			}
		})
	}
}
