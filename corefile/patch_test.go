package corefile

import (
	"bytes"
	"flag"
	"io"
	"log"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // CoreDNS's parser warns about imports that match no file
	os.Exit(m.Run())
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// withKubeconfig is the plugin setup most cases patch in.
var withKubeconfig = Clusterset{Kubeconfig: "/etc/coredns/clusterset/kubeconfig", TTL: 5}

func TestPatchGolden(t *testing.T) {
	tests := []struct {
		file string // under examples/ or testdata/
		mode Mode
		o    PatchOptions
	}{
		{"examples/kubeadm.Corefile", ModeBlock, PatchOptions{Clusterset: withKubeconfig}},
		{"examples/kubeadm.Corefile", ModeServer, PatchOptions{Clusterset: withKubeconfig}},
		{"examples/k3s.Corefile", ModeBlock, PatchOptions{}},
		{"examples/k3s.Corefile", ModeServer, PatchOptions{}},
		{"examples/eks.Corefile", ModeBlock, PatchOptions{Clusterset: Clusterset{TTL: 30}}},
		{"examples/eks.Corefile", ModeServer, PatchOptions{Clusterset: Clusterset{TTL: 30}}},
		{"testdata/comments.Corefile", ModeBlock, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/comments.Corefile", ModeServer, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/tabs.Corefile", ModeBlock, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/tabs.Corefile", ModeServer, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/whitespace.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/whitespace.Corefile", ModeServer, PatchOptions{Clusterset: Clusterset{Fallthrough: true}}},
		{"testdata/brace-line.Corefile", ModeServer, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/nodelocaldns.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/nodelocaldns.Corefile", ModeServer, PatchOptions{}},
		{"testdata/snippets.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/snippets.Corefile", ModeServer, PatchOptions{}},
		{"testdata/crlf.Corefile", ModeBlock, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/crlf.Corefile", ModeServer, PatchOptions{Clusterset: withKubeconfig}},
		{"testdata/env.Corefile", ModeBlock, PatchOptions{Clusterset: Clusterset{Kubeconfig: "{$CLUSTERSET_KUBECONFIG}"}}},
		{"testdata/env.Corefile", ModeServer, PatchOptions{}},
		{"testdata/no-root.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/no-port.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/no-port.Corefile", ModeServer, PatchOptions{}},
		{"testdata/quoted.Corefile", ModeBlock, PatchOptions{Clusterset: Clusterset{Kubeconfig: "/etc/my config/kubeconfig", Context: "member #1"}}},
		{"testdata/quoted.Corefile", ModeServer, PatchOptions{Clusterset: Clusterset{Zone: "mcs.example", FallthroughZones: []string{"mcs.example"}}}},
		{"testdata/no-eol.Corefile", ModeBlock, PatchOptions{}},
		{"testdata/no-eol.Corefile", ModeServer, PatchOptions{}},
		{"testdata/multiple-ports.Corefile", ModeBlock, PatchOptions{Port: "5353"}},
		{"testdata/multiple-ports.Corefile", ModeServer, PatchOptions{Port: "53"}},
	}
	for _, tt := range tests {
		base := strings.TrimSuffix(filepath.Base(tt.file), ".Corefile")
		golden := filepath.Join("testdata", "golden", base+"."+string(tt.mode)+".Corefile")
		t.Run(base+"/"+string(tt.mode), func(t *testing.T) {
			src, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			o := tt.o
			o.Mode = tt.mode
			out, err := Patch(src, o)
			if err != nil {
				t.Fatal(err)
			}
			checkPatched(t, src, out, o)
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("Patch differs from %s:\n%s", golden, out)
			}
		})
	}
}

// checkPatched fails t unless out is src with one block of lines inserted,
// patching out again changes nothing, CoreDNS parses out with its own
// directives, and exactly one server block has the wanted clusterset
// directive: a dedicated one in mode block, the root one in mode server.
func checkPatched(t *testing.T, src, out []byte, o PatchOptions) {
	t.Helper()
	if !isInsertion(src, out) {
		t.Errorf("the patch changes more than it inserts:\n%s", out)
	}
	if again, err := Patch(out, o); err != nil || !bytes.Equal(again, out) {
		t.Errorf("patching twice: err %v, changed %v", err, !bytes.Equal(again, out))
	}
	if bytes.Contains(src, []byte("\r\n")) && bytes.Count(out, []byte("\n")) != bytes.Count(out, []byte("\r\n")) {
		t.Errorf("the patch writes \\n into a file that ends lines with \\r\\n")
	}

	blocks, err := caddyfile.Parse("Corefile", bytes.NewReader(out), append(slices.Clone(dnsserver.Directives), "clusterset"))
	if err != nil {
		t.Fatalf("CoreDNS cannot parse the patched file: %v\n%s", err, out)
	}
	c, err := o.Clusterset.normalized()
	if err != nil {
		t.Fatal(err)
	}
	want := c.words()
	for i, w := range want {
		want[i] = envPlaceholder.ReplaceAllStringFunc(w, func(p string) string { return os.Getenv(p[2 : len(p)-1]) })
	}
	var with []caddyfile.ServerBlock // blocks with a clusterset directive for the zone
	for _, b := range blocks {
		if tokens := b.Tokens["clusterset"]; len(tokens) > 1 && fqdn(tokens[1].Text) == fqdn(c.Zone) {
			with = append(with, b)
		}
	}
	if len(with) != 1 {
		t.Fatalf("%d server blocks have a clusterset directive for %s, want 1", len(with), c.Zone)
	}
	var got []string
	for _, tk := range with[0].Tokens["clusterset"] {
		got = append(got, tk.Text)
	}
	if !slices.Equal(got, want) {
		t.Errorf("clusterset directive is %q, want %q", got, want)
	}
	keys := with[0].Keys
	zone := strings.TrimSuffix(c.Zone, ".")
	switch o.Mode {
	case ModeBlock:
		if len(keys) != 1 || keys[0] != zone && !strings.HasPrefix(keys[0], zone+":") {
			t.Errorf("clusterset directive is in server block %q, want a block of its own for %s", keys, zone)
		}
	case ModeServer:
		if !slices.ContainsFunc(keys, func(k string) bool { return ParseAddress(k).Zone == "." }) {
			t.Errorf("clusterset directive is in server block %q, want the root block", keys)
		}
	}
}

// envPlaceholder matches what CoreDNS replaces with an environment variable.
var envPlaceholder = regexp.MustCompile(`\{\$[^}]+\}`)

// isInsertion reports whether out is src with one run of bytes inserted.
func isInsertion(src, out []byte) bool {
	if len(out) < len(src) {
		return false
	}
	prefix := 0
	for prefix < len(src) && src[prefix] == out[prefix] {
		prefix++
	}
	return bytes.Equal(src[prefix:], out[len(out)-(len(src)-prefix):])
}

func TestIsInsertion(t *testing.T) {
	tests := []struct {
		src, out string
		want     bool
	}{
		{"ab", "ab", true},
		{"ab", "aXb", true},
		{"ab", "abX", true},
		{"ab", "Xab", true},
		{"ab", "aXbX", false},
		{"ab", "b", false},
		{"ab", "aXc", false},
	}
	for _, tt := range tests {
		if got := isInsertion([]byte(tt.src), []byte(tt.out)); got != tt.want {
			t.Errorf("isInsertion(%q, %q) = %v, want %v", tt.src, tt.out, got, tt.want)
		}
	}
}

func TestPatchEmptyFile(t *testing.T) {
	out, err := Patch(nil, PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPatched(t, nil, out, PatchOptions{Mode: ModeBlock})
	if !bytes.HasPrefix(out, []byte("clusterset.local:53 {\n")) {
		t.Errorf("got %q, want a block for clusterset.local:53", out)
	}
}

func TestPatchErrors(t *testing.T) {
	kubeadm, err := os.ReadFile("examples/kubeadm.Corefile")
	if err != nil {
		t.Fatal(err)
	}
	patched := func(o PatchOptions) string {
		out, err := Patch(kubeadm, o)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	block := PatchOptions{Mode: ModeBlock, Clusterset: withKubeconfig}
	server := PatchOptions{Mode: ModeServer, Clusterset: withKubeconfig}
	otherTTL := withKubeconfig
	otherTTL.TTL = 10

	tests := []struct {
		name string
		src  string
		o    PatchOptions
		want string
	}{
		{"unclosed block", ".:53 {\n errors\n", block, `line 1: server block ".:53" is not closed`},
		{"extra brace", ".:53 {\n errors\n}\n}\n", block, `line 4: unexpected "}"`},
		{"brace after directive", ".:53 {\n errors }\n", server, `line 2: unexpected '}' after directive "errors"`},
		{"unclosed quote", ".:53 {\n hosts \"/etc/hosts\n}\n", block, "line 2: quoted string is not closed"},
		{"no root block in mode server", "example.org {\n whoami\n}\n", server, `no server block serves the root zone "." on port 53; use mode "block"`},
		{"root block on another port", ".:53 {\n whoami\n}\n", PatchOptions{Mode: ModeServer, Port: "1053"}, `no server block serves the root zone "." on port 1053`},
		{"two root blocks", ".:53 {\n whoami\n}\n.:5353 {\n whoami\n}\n", block, `server blocks ".:53" (line 1) and ".:5353" (line 4) both serve the root zone; select one by port`},
		{"block without braces", ".:53\nwhoami\n", block, `server block ".:53" (line 1) has no braces`},
		{"patched with other settings, mode block", patched(block), PatchOptions{Mode: ModeBlock, Clusterset: otherTTL}, `server block "clusterset.local:53" (line 25) already serves clusterset.local with other settings: have "clusterset clusterset.local { kubeconfig /etc/coredns/clusterset/kubeconfig ttl 5 }", want "clusterset clusterset.local { kubeconfig /etc/coredns/clusterset/kubeconfig ttl 10 }"`},
		{"patched with other settings, mode server", patched(server), PatchOptions{Mode: ModeServer, Clusterset: otherTTL}, `line 7: server block ".:53" (line 1) already has a clusterset directive with other settings`},
		{"patched in mode block, asked for server", patched(block), server, `already serves clusterset.local with a dedicated server block; that is mode "block", not "server"`},
		{"patched in mode server, asked for block", patched(server), block, `line 7: server block ".:53" (line 1) already has this clusterset directive; mode "block" puts it elsewhere`},
		{"stock multicluster", ".:53 {\n kubernetes cluster.local clusterset.local {\n  multicluster clusterset.local\n }\n}\n", block, `line 2: directive "kubernetes" in server block ".:53" (line 1) already serves clusterset.local; remove it first`},
		{"forwarded zone", ".:53 {\n forward clusterset.local. 10.0.0.1\n forward . 8.8.8.8\n}\n", server, `line 2: directive "forward" in server block ".:53" (line 1) already serves clusterset.local`},
		{"zone block without the plugin", ".:53 {\n whoami\n}\nclusterset.local:53 {\n forward . 10.0.0.1\n}\n", block, `server block "clusterset.local:53" (line 4) already serves clusterset.local without the clusterset plugin`},
		{"zone block, mode server", ".:53 {\n whoami\n}\nClusterSet.Local {\n forward . 10.0.0.1\n}\n", server, `server block "ClusterSet.Local" (line 4) already serves clusterset.local without the clusterset plugin`},
		{"parent zone block, mode server", ".:53 {\n whoami\n}\nlocal:53 {\n forward . 10.0.0.1\n}\n", server, `server block "local:53" (line 4) serves a parent zone of clusterset.local, so the root server block would not see its queries`},
		{"clusterset without zones", ".:53 {\n clusterset\n}\n", block, `line 2: server block ".:53" (line 1) already has a clusterset directive with other settings`},
		{"clusterset in a snippet", "(mcs) {\n clusterset clusterset.local\n}\n.:53 {\n import mcs\n}\n", server, `line 2: snippet (mcs) (line 1) already has a clusterset directive`},
		{"unknown mode", "", PatchOptions{Mode: "zone"}, `unknown mode "zone": want "block" or "server"`},
		{"bad port", "", PatchOptions{Port: "53 54"}, `"53 54" is not a port`},
		{"bad zone", "", PatchOptions{Clusterset: Clusterset{Zone: "cluster set.local"}}, `"cluster set.local" is not a DNS zone`},
		{"bad fallthrough zone", "", PatchOptions{Clusterset: Clusterset{FallthroughZones: []string{"a..b"}}}, `"a..b" is not a DNS zone`},
		{"ttl too large", "", PatchOptions{Clusterset: Clusterset{TTL: 3601}}, "ttl 3601 is outside 0..3600"},
		{"negative ttl", "", PatchOptions{Clusterset: Clusterset{TTL: -1}}, "ttl -1 is outside 0..3600"},
		{"context without kubeconfig", "", PatchOptions{Clusterset: Clusterset{Context: "c"}}, `a kubeconfig context ("c") needs a kubeconfig file`},
		{"unwritable kubeconfig", "", PatchOptions{Clusterset: Clusterset{Kubeconfig: "}"}}, `"}" cannot be written as a Corefile argument`},
		{"kubeconfig ending in backslash", "", PatchOptions{Clusterset: Clusterset{Kubeconfig: `C:\my dir\`}}, "holds a backslash before a quote or at its end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Patch([]byte(tt.src), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if out != nil {
				t.Errorf("Patch returned a Corefile with its error")
			}
		})
	}
}

// TestPatchInline patches small files: blocks for other zones, ports and
// transports, which do not count as serving the clusterset zone, and odd
// layouts.
func TestPatchInline(t *testing.T) {
	tests := []struct {
		name string
		src  string
		mode Mode
	}{
		{"zone on another port", ".:53 {\n whoami\n}\nclusterset.local:1053 {\n forward . 10.0.0.1\n}\n", ModeBlock},
		{"zone over TLS", ".:53 {\n whoami\n}\ntls://clusterset.local:53 {\n forward . 10.0.0.1\n}\n", ModeServer},
		{"subzone named in an argument", ".:53 {\n forward a.clusterset.local 10.0.0.1\n}\n", ModeServer},
		{"parent zone block, mode block", ".:53 {\n whoami\n}\nlocal:53 {\n forward . 10.0.0.1\n}\n", ModeBlock},
		{"clusterset plugin for another zone", ".:53 {\n whoami\n}\nexample.org {\n clusterset example.org\n}\n", ModeBlock},
		{"empty root block on one line, mode server", ".:53 { }", ModeServer},
		{"empty root block on one line, mode block", ".:53 { }", ModeBlock},
		{"only comments", "# nothing yet\n", ModeBlock},
		{"byte order mark", "\uFEFF.:53 {\n whoami\n}\n", ModeServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := PatchOptions{Mode: tt.mode}
			out, err := Patch([]byte(tt.src), o)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(out, []byte(tt.src)) {
				t.Fatalf("Patch changed nothing")
			}
			checkPatched(t, []byte(tt.src), out, o)
		})
	}
}

// FuzzPatch checks that on any input Patch fails or inserts text that CoreDNS
// parses and that patching again leaves alone.
func FuzzPatch(f *testing.F) {
	for _, src := range corefiles(f) {
		f.Add(src, false)
		f.Add(src, true)
	}
	f.Fuzz(func(t *testing.T, src []byte, server bool) {
		o := PatchOptions{Mode: ModeBlock, Clusterset: withKubeconfig}
		if server {
			o.Mode = ModeServer
		}
		out, err := Patch(src, o)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Patch(%q): %v", src, err)
			}
			return
		}
		if !isInsertion(src, out) {
			t.Fatalf("Patch(%q) changes more than it inserts:\n%q", src, out)
		}
		if again, err := Patch(out, o); err != nil || !bytes.Equal(again, out) {
			t.Fatalf("Patch(%q): patching twice: err %v, changed %v", src, err, !bytes.Equal(again, out))
		}
		if bytes.Contains(src, []byte("import")) || bytes.Contains(src, []byte("{$")) || bytes.Contains(src, []byte("{%")) {
			return // CoreDNS would expand these
		}
		if _, err := caddyfile.Parse("Corefile", bytes.NewReader(out), nil); err != nil {
			t.Fatalf("Patch(%q) writes what CoreDNS cannot parse: %v\n%q", src, err, out)
		}
	})
}

func BenchmarkPatch(b *testing.B) {
	src, err := os.ReadFile("examples/kubeadm.Corefile")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []Mode{ModeBlock, ModeServer} {
		b.Run(string(mode), func(b *testing.B) {
			o := PatchOptions{Mode: mode, Clusterset: withKubeconfig}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Patch(src, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
