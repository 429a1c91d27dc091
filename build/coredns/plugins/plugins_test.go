package plugins

import (
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/clusterset/clusterset/build/coredns/directives"
)

// The build runs the directives of the pinned CoreDNS module, in its order, plus clusterset
// right before kubernetes; the checked-in list that clusterset-corefile uses is that list.
func TestDirectivesAreStockPlusClusterset(t *testing.T) {
	k := slices.Index(stockDirectives, "kubernetes")
	if k < 0 || slices.Contains(stockDirectives, "clusterset") || len(stockDirectives) < 60 {
		t.Fatalf("stock directives of the module look wrong: %v", stockDirectives)
	}
	want := slices.Concat(stockDirectives[:k], []string{"clusterset"}, stockDirectives[k:])
	if !slices.Equal(dnsserver.Directives, want) {
		t.Errorf("build directives\n %v\nwant stock plus clusterset before kubernetes\n %v", dnsserver.Directives, want)
	}
	if !slices.Equal(directives.List, dnsserver.Directives) {
		t.Errorf("directives.List drifted from the build; run go generate ./build/coredns/directives\n have %v\n want %v", directives.List, dnsserver.Directives)
	}
}

// Every directive has a plugin linked: a Corefile naming any of them cannot fail with "no action
// found for directive".
func TestEveryDirectiveHasAPlugin(t *testing.T) {
	for _, d := range dnsserver.Directives {
		if _, err := caddy.DirectiveAction("dns", d); err != nil {
			t.Errorf("directive %q: %v", d, err)
		}
	}
}
