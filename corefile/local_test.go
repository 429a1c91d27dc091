package corefile

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestLocalText(t *testing.T) {
	got, err := Local(LocalOptions{
		Clusterset: Clusterset{Kubeconfig: "/tmp/clusterset/cluster-2/kubeconfig", TTL: 5},
		Bind:       "127.0.0.2",
		Port:       1053,
		Ready:      "127.0.0.2:8181",
		Health:     "127.0.0.2:8080",
		Prometheus: "127.0.0.2:9153",
		Log:        true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `clusterset.local:1053 {
    bind 127.0.0.2
    errors
    log
    health 127.0.0.2:8080
    ready 127.0.0.2:8181
    prometheus 127.0.0.2:9153
    clusterset clusterset.local {
        kubeconfig /tmp/clusterset/cluster-2/kubeconfig
        ttl 5
    }
}
`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestLocal checks what CoreDNS reads from Local's output: the key and the
// tokens of every directive, which must all be CoreDNS directives.
func TestLocal(t *testing.T) {
	tests := []struct {
		name string
		o    LocalOptions
		key  string
		want map[string]string // directive name to its tokens, space-joined
	}{
		{"defaults", LocalOptions{}, "clusterset.local:53", map[string]string{
			"errors": "errors", "clusterset": "clusterset clusterset.local",
		}},
		{"demo cluster", LocalOptions{Clusterset: Clusterset{Kubeconfig: "/d/cluster-1/kubeconfig", TTL: 5}, Bind: "127.0.0.11", Port: 1053, Ready: "127.0.0.11:8181", Cache: 5}, "clusterset.local:1053", map[string]string{
			"bind": "bind 127.0.0.11", "errors": "errors", "ready": "ready 127.0.0.11:8181", "cache": "cache 5",
			"clusterset": "clusterset clusterset.local { kubeconfig /d/cluster-1/kubeconfig ttl 5 }",
		}},
		{"other zone, context, fallthrough", LocalOptions{Clusterset: Clusterset{Zone: "mcs.test", Kubeconfig: "/k", Context: "c2", Fallthrough: true}, Prometheus: ":9253"}, "mcs.test:53", map[string]string{
			"errors": "errors", "prometheus": "prometheus :9253",
			"clusterset": "clusterset mcs.test { kubeconfig /k c2 fallthrough }",
		}},
		{"path with spaces", LocalOptions{Clusterset: Clusterset{Kubeconfig: "/tmp/my dir/kubeconfig"}, Health: "127.0.0.3:8080"}, "clusterset.local:53", map[string]string{
			"errors": "errors", "health": "health 127.0.0.3:8080",
			"clusterset": "clusterset clusterset.local { kubeconfig /tmp/my dir/kubeconfig }",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Local(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			blocks, err := caddyfile.Parse("Corefile", bytes.NewReader(out), append(slices.Clone(dnsserver.Directives), "clusterset"))
			if err != nil {
				t.Fatalf("CoreDNS cannot parse\n%s: %v", out, err)
			}
			if len(blocks) != 1 || !slices.Equal(blocks[0].Keys, []string{tt.key}) {
				t.Fatalf("got blocks %+v, want one with key %s", blocks, tt.key)
			}
			got := map[string]string{}
			for name, tokens := range blocks[0].Tokens {
				var texts []string
				for _, tk := range tokens {
					texts = append(texts, tk.Text)
				}
				got[name] = strings.Join(texts, " ")
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", fmt.Sprint(got), fmt.Sprint(tt.want))
			}
		})
	}
}

func TestLocalErrors(t *testing.T) {
	tests := []struct {
		name string
		o    LocalOptions
		want string
	}{
		{"port too large", LocalOptions{Port: 65536}, "port 65536 is outside 1..65535"},
		{"negative port", LocalOptions{Port: -1}, "port -1 is outside 1..65535"},
		{"negative cache", LocalOptions{Cache: -5}, "cache -5 is negative"},
		{"bad zone", LocalOptions{Clusterset: Clusterset{Zone: "a b"}}, `"a b" is not a DNS zone`},
		{"brace as address", LocalOptions{Ready: "{"}, `"{" cannot be written as a Corefile argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Local(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) || out != nil {
				t.Fatalf("Local: %q, %v; want no Corefile and an error containing %q", out, err, tt.want)
			}
		})
	}
}
