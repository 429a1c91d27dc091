package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	_ "github.com/clusterset/clusterset/build/coredns/plugins" // the plugin chain of our image
	"github.com/clusterset/clusterset/corefile"
)

// The guide swaps the image first and patches the Corefile after the rollout, so our image
// must run the distributions' stock Corefiles, and then their patched forms: every directive
// in them must be a plugin that our build links and orders.
func TestOurImageRunsStockCorefiles(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join(repoRoot(t), "corefile", "examples", "*.Corefile"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no example Corefiles: %v", err)
	}
	linked := caddy.ListPlugins()["others"]
	for _, path := range examples {
		t.Run(filepath.Base(path), func(t *testing.T) {
			stock, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			patched, err := corefile.Patch(stock, corefile.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for name, src := range map[string][]byte{"stock": stock, "patched": patched} {
				f, err := corefile.Parse(src)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for _, b := range f.Blocks {
					for _, d := range b.Directives {
						if d.Name() == "import" { // caddy's own, not a plugin
							continue
						}
						if !slices.Contains(dnsserver.Directives, d.Name()) || !slices.Contains(linked, "dns."+d.Name()) {
							t.Errorf("%s Corefile, line %d: directive %q is not a plugin of our CoreDNS build", name, d.Line(), d.Name())
						}
					}
				}
			}
		})
	}
}
