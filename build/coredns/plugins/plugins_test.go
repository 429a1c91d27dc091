package plugins

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func TestInsertBefore(t *testing.T) {
	tests := []struct {
		name       string
		directives []string
		want       []string
	}{
		{"before anchor", []string{"cache", "k8s_external", "kubernetes", "file"}, []string{"cache", "k8s_external", "clusterset", "kubernetes", "file"}},
		{"anchor first", []string{"kubernetes", "file"}, []string{"clusterset", "kubernetes", "file"}},
		{"no anchor appends", []string{"cache", "file"}, []string{"cache", "file", "clusterset"}},
		{"already present stays", []string{"clusterset", "cache", "kubernetes"}, []string{"clusterset", "cache", "kubernetes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.directives)
			got := insertBefore(in, "clusterset", "kubernetes")
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if !slices.Equal(in, tc.directives) {
				t.Errorf("input modified: %v", in)
			}
		})
	}
}

// The init splice must leave clusterset exactly once, between k8s_external and kubernetes.
func TestDirectiveOrder(t *testing.T) {
	i := slices.Index(dnsserver.Directives, "clusterset")
	if i < 1 || i+1 >= len(dnsserver.Directives) {
		t.Fatalf("clusterset at %d in %v", i, dnsserver.Directives)
	}
	if n := len(slices.DeleteFunc(slices.Clone(dnsserver.Directives), func(d string) bool { return d != "clusterset" })); n != 1 {
		t.Errorf("clusterset appears %d times", n)
	}
	if prev, next := dnsserver.Directives[i-1], dnsserver.Directives[i+1]; prev != "k8s_external" || next != "kubernetes" {
		t.Errorf("clusterset between %q and %q, want k8s_external and kubernetes", prev, next)
	}
}
