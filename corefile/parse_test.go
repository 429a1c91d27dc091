package corefile

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
)

// corefiles returns the example and test Corefiles by file name.
func corefiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	paths, err := filepath.Glob("examples/*.Corefile")
	if err != nil {
		tb.Fatal(err)
	}
	more, err := filepath.Glob("testdata/*.Corefile")
	if err != nil {
		tb.Fatal(err)
	}
	files := map[string][]byte{}
	for _, p := range append(paths, more...) {
		src, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		files[filepath.Base(p)] = src
	}
	if len(files) < 10 {
		tb.Fatalf("found only %d Corefiles", len(files))
	}
	return files
}

// outline describes a parsed file: one line per block, with its keys and the
// names and lines of its directives.
func outline(f *File) []string {
	var lines []string
	for _, b := range f.Blocks {
		var dirs []string
		for _, d := range b.Directives {
			dirs = append(dirs, fmt.Sprintf("%s@%d", d.Name(), d.Line()))
		}
		kind := "block"
		if b.Snippet {
			kind = "snippet"
		}
		lines = append(lines, fmt.Sprintf("%s %s braced=%v: %s", kind, b.Name(), b.Braced, strings.Join(dirs, " ")))
	}
	for _, d := range f.Imports {
		lines = append(lines, "import "+strings.Join(d.Args(), " "))
	}
	return lines
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"one block", ".:53 {\n  errors\n  cache 30\n}\n", []string{"block .:53 braced=true: errors@2 cache@3"}},
		{"nested block", ".:53 {\n  kubernetes a {\n    pods insecure\n  }\n  loop\n}", []string{"block .:53 braced=true: kubernetes@2 loop@5"}},
		{"brace on next line", ".:53\n{\n  errors\n}", []string{"block .:53 braced=true: errors@3"}},
		{"directive on brace line", ".:53 { errors\n  loop\n}", []string{"block .:53 braced=true: errors@1 loop@2"}},
		{"empty block on one line", ".:53 { }", []string{"block .:53 braced=true: "}},
		{"several keys", "a.org:53 b.org:53 {\n whoami\n}", []string{"block a.org:53 b.org:53 braced=true: whoami@2"}},
		{"keys continued by comma", "a.org:53,\nb.org:53 {\n whoami\n}", []string{"block a.org:53 b.org:53 braced=true: whoami@3"}},
		{"no braces", ".:53\nerrors\nwhoami\n", []string{"block .:53 braced=false: errors@2 whoami@3"}},
		{"keys only", ".:53", []string{"block .:53 braced=false: "}},
		{"snippet", "(s) { errors }\n.:53 {\n import s\n}", []string{"snippet (s) braced=true: errors@1", "block .:53 braced=true: import@3"}},
		{"top-level import", ".:53 {\n errors\n}\nimport custom/*.server\n", []string{"block .:53 braced=true: errors@2", "import custom/*.server"}},
		{"brace opening on a later line of a directive", ".:53 {\n hosts\n {\n  fallthrough\n }\n}", []string{"block .:53 braced=true: hosts@2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := outline(f); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"missing closing brace", ".:53 {\n errors\n", `line 1: server block ".:53" is not closed`},
		{"missing brace of a directive", ".:53 {\n kubernetes a {\n  pods insecure\n", `line 2: block of directive "kubernetes" is not closed`},
		{"extra closing brace", ".:53 {\n errors\n}\n}\n", `line 4: unexpected "}" outside a server block`},
		{"closing brace after a directive", ".:53 {\n errors }\n", `line 2: unexpected '}' after directive "errors"`},
		{"brace without keys", "{\n errors\n}", `line 1: unexpected "{" outside a server block`},
		{"unclosed quote", ".:53 {\n hosts \"a\n}\n", "line 2: quoted string is not closed"},
		{"dangling comma", "a.org:53,", "line 1: expected another address after ','"},
		{"comma then brace", "a.org:53, {\n}", "line 1: expected another address after ','"},
		{"snippet without braces", "(s)\nerrors", "line 1: snippet (s) needs a '{'"},
		{"snippet declared twice", "(s) {\n errors\n}\n(s) {\n loop\n}", "line 4: snippet (s) is already declared on line 1"},
		{"brace in a block without braces", ".:53\nerrors\n}", `line 3: unexpected '}': server block ".:53" (line 1) has no '{'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		key  string
		want Address
	}{
		{".:53", Address{"dns", ".", "53"}},
		{".", Address{"dns", ".", ""}},
		{"Example.ORG", Address{"dns", "example.org.", ""}},
		{"clusterset.local.:1053", Address{"dns", "clusterset.local.", "1053"}},
		{"dns://.:53", Address{"dns", ".", "53"}},
		{"TLS://example.org:853", Address{"tls", "example.org.", "853"}},
		{"10.0.0.0/24:53", Address{"dns", "10.0.0.0/24.", "53"}},
		{".:{$PORT}", Address{"dns", ".", "{$PORT}"}},
	}
	for _, tt := range tests {
		if got := ParseAddress(tt.key); got != tt.want {
			t.Errorf("ParseAddress(%q) = %+v, want %+v", tt.key, got, tt.want)
		}
	}
}

// caddyOutline describes CoreDNS's parse like directivesByName does ours.
func caddyOutline(blocks []caddyfile.ServerBlock) []string {
	var lines []string
	for _, b := range blocks {
		lines = append(lines, "keys "+strings.Join(b.Keys, " "))
		for _, name := range slices.Sorted(maps.Keys(b.Tokens)) {
			var texts []string
			for _, t := range b.Tokens[name] {
				texts = append(texts, t.Text)
			}
			lines = append(lines, fmt.Sprintf("  %s: %q", name, texts))
		}
	}
	return lines
}

// directivesByName describes our parse as CoreDNS groups it: the keys of each
// server block, then the tokens of its directives grouped by name.
func directivesByName(f *File) []string {
	var lines []string
	for _, b := range f.Blocks {
		if b.Snippet {
			continue
		}
		var keys []string
		for _, k := range b.Keys {
			keys = append(keys, k.Text)
		}
		lines = append(lines, "keys "+strings.Join(keys, " "))
		byName := map[string][]string{}
		for _, d := range b.Directives {
			byName[d.Name()] = append(byName[d.Name()], tokenTexts(d.Tokens)...)
		}
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			lines = append(lines, fmt.Sprintf("  %s: %q", name, byName[name]))
		}
	}
	return lines
}

// checkParseMatchesCaddy fails t if Parse accepts src and CoreDNS does not,
// or if they group it differently. Parse may refuse more than CoreDNS: an
// unclosed quote, a stray brace. Files with imports or environment
// placeholders are skipped, since CoreDNS expands them.
func checkParseMatchesCaddy(t *testing.T, src []byte) {
	t.Helper()
	if bytes.Contains(src, []byte("import")) || bytes.Contains(src, []byte("{$")) || bytes.Contains(src, []byte("{%")) {
		return
	}
	f, err := Parse(src)
	blocks, caddyErr := caddyfile.Parse("Corefile", bytes.NewReader(src), nil)
	if err != nil {
		return
	}
	if caddyErr != nil {
		t.Fatalf("Parse accepts %q, CoreDNS refuses it: %v", src, caddyErr)
	}
	if got, want := directivesByName(f), caddyOutline(blocks); !slices.Equal(got, want) {
		t.Fatalf("Parse(%q)\n got %q\nwant %q (CoreDNS)", src, got, want)
	}
}

func TestParseMatchesCaddyOnTestdata(t *testing.T) {
	for name, src := range corefiles(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(src); err != nil {
				t.Fatal(err)
			}
			checkParseMatchesCaddy(t, src)
		})
	}
}

func FuzzParseMatchesCaddy(f *testing.F) {
	for _, src := range corefiles(f) {
		f.Add(src)
	}
	for _, src := range []string{".:53 { errors }", "(s) { a }\n.:53 {\n}", "a,\nb {\n}", ".:53\n{\n}\n}"} {
		f.Add([]byte(src))
	}
	f.Fuzz(checkParseMatchesCaddy)
}
