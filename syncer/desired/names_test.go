package desired

import (
	"strconv"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// referenceAdler32 is RFC 1950's definition, written out to check the
// standard library's result independently.
func referenceAdler32(s string) uint32 {
	a, b := uint32(1), uint32(0)
	for i := 0; i < len(s); i++ {
		a = (a + uint32(s[i])) % 65521
		b = (b + a) % 65521
	}
	return b<<16 | a
}

func TestDerivedServiceName(t *testing.T) {
	tests := []struct{ export, want string }{
		{"web-service", "derived-435094621"}, // DESIGN.md's example, as Sveltos' adler32sum prints it
		{"web", "derived-" + strconv.FormatUint(uint64(referenceAdler32("web")), 10)},
		{"a", "derived-6422626"},
		{"a-much-longer-service-name-with-63-characters-0123456789-abcdefg", "derived-" +
			strconv.FormatUint(uint64(referenceAdler32("a-much-longer-service-name-with-63-characters-0123456789-abcdefg")), 10)},
	}
	for _, tt := range tests {
		if got := DerivedServiceName(tt.export); got != tt.want {
			t.Errorf("DerivedServiceName(%q) = %s, want %s", tt.export, got, tt.want)
		}
	}
}

func TestIsManaged(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{ManagedByLabel: ManagerName}, true},
		{map[string]string{discoveryv1.LabelManagedBy: ManagerName}, true},
		{map[string]string{discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}, false},
		{map[string]string{ManagedByLabel: "helm"}, false},
		{map[string]string{"other": ManagerName}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsManaged(&metav1.ObjectMeta{Labels: tt.labels}); got != tt.want {
			t.Errorf("IsManaged(%v) = %v, want %v", tt.labels, got, tt.want)
		}
	}
}
