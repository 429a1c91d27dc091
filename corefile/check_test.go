package corefile

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
)

// known is a small directive list for the table; the cross-check with CoreDNS's parser uses
// CoreDNS's own list.
var known = []string{"errors", "health", "kubernetes", "forward", "cache", "clusterset", "log"}

func TestUnknownDirectives(t *testing.T) {
	tests := []struct {
		name, src string
		want      []UnknownDirective
	}{
		{"all known", ".:53 {\n errors\n kubernetes cluster.local {\n  pods insecure\n }\n forward . /etc/resolv.conf\n}\n", nil},
		{"options of a nested block are not directives", ".:53 {\n kubernetes {\n  rewrite x\n }\n}\n", nil},
		{"one unknown", ".:53 {\n errors\n rewrite name a b\n}\n", []UnknownDirective{{"rewrite", 3, ".:53"}}},
		{"first use only, in file order", ".:53 {\n whoami\n rewrite name a b\n}\nexample.org:53 {\n rewrite name c d\n acl\n}\n",
			[]UnknownDirective{{"whoami", 2, ".:53"}, {"rewrite", 3, ".:53"}, {"acl", 7, "example.org:53"}}},
		{"block without braces", ".\nwhoami\n", []UnknownDirective{{"whoami", 2, "."}}},
		{"imported snippet", "(common) {\n prometheus :9153\n}\n.:53 {\n import common\n}\n", []UnknownDirective{{"prometheus", 2, "(common)"}}},
		{"snippet imported at top level", "(common) {\n prometheus\n}\nimport common\n.:53 {\n errors\n}\n", []UnknownDirective{{"prometheus", 2, "(common)"}}},
		{"snippet never imported", "(unused) {\n prometheus\n}\n.:53 {\n errors\n}\n", nil},
		{"import of files", ".:53 {\n import /etc/coredns/custom/*.override\n}\n", nil},
		{"placeholder directive", ".:53 {\n {$EXTRA_PLUGIN}\n}\n", nil},
		{"names are case-sensitive", ".:53 {\n Errors\n}\n", []UnknownDirective{{"Errors", 2, ".:53"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.UnknownDirectives(known); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// The check refuses exactly what CoreDNS's own parser refuses as an unknown directive.
func TestUnknownDirectivesMatchesCaddy(t *testing.T) {
	stock := dnsserver.Directives
	files := []string{
		".:53 {\n errors\n rewrite name a b\n}\n",
		".:53 {\n errors\n alternate SERVFAIL . 8.8.8.8\n}\n",
		".:53 {\n unbound\n}\nexample.org {\n whoami\n}\n",
		"(s) {\n nosuchplugin\n}\n.:53 {\n import s\n}\n",
		"(s) {\n nosuchplugin\n}\n.:53 {\n errors\n}\n",
		".:53 {\n clusterset\n}\n", // stock CoreDNS has no clusterset
	}
	for _, src := range corefiles(t) {
		files = append(files, string(src))
	}
	for _, src := range files {
		f, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		ours := len(f.UnknownDirectives(stock)) > 0
		_, err = caddyfile.Parse("Corefile", bytes.NewReader([]byte(src)), stock)
		theirs := err != nil && strings.Contains(err.Error(), "Unknown directive")
		if ours != theirs {
			t.Errorf("%q: we find unknown directives: %v; CoreDNS's parser: %v", src, ours, err)
		}
	}
}

func TestCheckDirectives(t *testing.T) {
	tests := []struct {
		name, src, err string // err: "" for none
	}{
		{"ok", ".:53 {\n errors\n}\n", ""},
		{"one", ".:53 {\n errors\n rewrite name a b\n}\n",
			`corefile: this CoreDNS build has no plugin for directive "rewrite" (line 3, server block .:53); CoreDNS would refuse to start on this Corefile`},
		{"two", ".:53 {\n whoami\n}\n(s) {\n acl\n}\nexample.org {\n import s\n}\n",
			`no plugin for directives "whoami" (line 2, server block .:53), "acl" (line 5, snippet (s))`},
		{"malformed", ".:53 {\n errors\n", `server block ".:53" is not closed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckDirectives([]byte(tc.src), known)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

// Patch checks before it changes anything: a file with a directive the build lacks gives an
// error and no output, in every mode and for ConfigMaps too.
func TestPatchRefusesUnknownDirectives(t *testing.T) {
	src := []byte(".:53 {\n errors\n rewrite name a b\n kubernetes cluster.local\n}\n")
	manifest := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\ndata:\n  Corefile: |\n    .:53 {\n     errors\n     rewrite name a b\n    }\n")
	tests := []struct {
		name  string
		patch func(PatchOptions) ([]byte, error)
		o     PatchOptions
		err   string
	}{
		{"block mode", func(o PatchOptions) ([]byte, error) { return Patch(src, o) }, PatchOptions{Directives: known}, `"rewrite" (line 3, server block .:53)`},
		{"server mode", func(o PatchOptions) ([]byte, error) { return Patch(src, o) }, PatchOptions{Mode: ModeServer, Directives: known}, `"rewrite" (line 3, server block .:53)`},
		{"ConfigMap", func(o PatchOptions) ([]byte, error) { return PatchConfigMap(manifest, DefaultConfigMapKey, o) }, PatchOptions{Directives: known}, `"rewrite" (line 3, server block .:53)`},
		{"known directives pass", func(o PatchOptions) ([]byte, error) { return Patch(src, o) }, PatchOptions{Directives: append(known, "rewrite")}, ""},
		{"no list, no check", func(o PatchOptions) ([]byte, error) { return Patch(src, o) }, PatchOptions{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.patch(tc.o)
			if tc.err == "" {
				if err != nil || !bytes.Contains(out, []byte("clusterset")) {
					t.Errorf("got %q, %v; want a patched file", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || out != nil {
				t.Errorf("got %q, %v; want no output and an error with %q", out, err, tc.err)
			}
		})
	}
}

func TestCorefileOf(t *testing.T) {
	tests := []struct {
		name, manifest, want, err string
	}{
		{"yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  Corefile: |\n    .:53 {\n    }\n", ".:53 {\n}\n", ""},
		{"json", `{"apiVersion": "v1", "kind": "ConfigMap", "data": {"Corefile": ". {\n}\n"}}`, ". {\n}\n", ""},
		{"two documents", "apiVersion: v1\nkind: ConfigMap\ndata: {Corefile: x}\n---\napiVersion: v1\nkind: ConfigMap\n", "", "more than one document"},
		{"no key", "apiVersion: v1\nkind: ConfigMap\ndata: {other: x}\n", "", `no data key "Corefile"`},
		{"not a ConfigMap", "apiVersion: v1\nkind: Secret\n", "", "not a v1 ConfigMap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CorefileOf([]byte(tc.manifest), DefaultConfigMapKey)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
