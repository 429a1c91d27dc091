package desired

import (
	"fmt"
	"slices"
	"strconv"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
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
		{"web-service", "derived-435094621"}, // the documented example, as Sveltos' adler32sum prints it
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

func TestFallbackDerivedServiceName(t *testing.T) {
	// web-120 and web-201 collide in Adler-32 (the documented example); their fallbacks must not.
	a, b := "web-120", "web-201"
	if DerivedServiceName(a) != DerivedServiceName(b) {
		t.Fatalf("%s and %s no longer collide: %s, %s", a, b, DerivedServiceName(a), DerivedServiceName(b))
	}
	fa, fb := FallbackDerivedServiceName(a), FallbackDerivedServiceName(b)
	if fa == fb {
		t.Errorf("fallbacks collide: %s", fa)
	}
	for _, f := range []string{fa, fb, FallbackDerivedServiceName("a-much-longer-service-name-with-63-characters-0123456789-abcdefg")} {
		if errs := validation.IsDNS1035Label(f); len(errs) > 0 {
			t.Errorf("fallback %q is not a valid Service name: %v", f, errs)
		}
	}
	if want := DerivedServiceName(a) + "-"; fa[:len(want)] != want || len(fa) != len(want)+fallbackHashLen {
		t.Errorf("fallback %q is not %s<%d hex digits>", fa, want, fallbackHashLen)
	}
	// 300 similar names: the seed names collide (about 150 distinct), the fallbacks never.
	seen := map[string]string{}
	for i := range 300 {
		name := fmt.Sprintf("svc-%03d", i)
		f := FallbackDerivedServiceName(name)
		if other, ok := seen[f]; ok {
			t.Errorf("fallback of %s and %s collide: %s", name, other, f)
		}
		seen[f] = name
	}
}

func TestChooseDerivedName(t *testing.T) {
	const svc = "web-201" // collides with web-120
	seed, fallback := DerivedServiceName(svc), FallbackDerivedServiceName(svc)
	tests := []struct {
		name     string
		recorded string
		own      []string
		taken    []string // held by others
		want     string
	}{
		{"free seed name", "", nil, nil, seed},
		{"seed held by another service: fallback", "", nil, []string{seed}, fallback},
		{"seed held by an object the syncer does not manage: fallback", "", nil, []string{seed}, fallback},
		{"recorded seed kept", seed, []string{seed}, nil, seed},
		{"recorded fallback kept when the seed frees (no stealing back)", fallback, []string{fallback}, nil, fallback},
		{"recorded fallback kept after a restart with no derived Service yet", fallback, nil, nil, fallback},
		{"recorded name taken meanwhile: the next free one", seed, nil, []string{seed}, fallback},
		{"derived Service created before its import recorded it: adopted", "", []string{fallback}, nil, fallback},
		{"own Service at the seed name preferred over one at the fallback", "", []string{fallback, seed}, nil, seed},
		{"own Service whose name another now holds is not adopted", "", []string{seed}, []string{seed}, fallback},
		{"edited annotation naming another Service is ignored", "kubernetes", nil, nil, seed},
		{"edited annotation naming another service's seed is ignored", DerivedServiceName("other"), nil, nil, seed},
		{"both names held", "", nil, []string{seed, fallback}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ChooseDerivedName(svc, DerivedNameView{
				Recorded:     tt.recorded,
				Own:          tt.own,
				TakenByOther: func(n string) bool { return slices.Contains(tt.taken, n) },
			})
			if got != tt.want {
				t.Errorf("ChooseDerivedName = %q, want %q", got, tt.want)
			}
		})
	}
}
