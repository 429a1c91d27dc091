package corefile

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/caddy/caddyfile"
)

func TestLex(t *testing.T) {
	type tok struct {
		Text string
		Line int
		Raw  string // src[Start:End]
	}
	tests := []struct {
		name string
		src  string
		want []tok
	}{
		{"words and lines", ".:53 {\n  errors\n}\n", []tok{{".:53", 1, ".:53"}, {"{", 1, "{"}, {"errors", 2, "errors"}, {"}", 3, "}"}}},
		{"hash inside a word drops the rest of the word", "a#b c\nd", []tok{{"a", 1, "a"}, {"c", 1, "c"}, {"d", 2, "d"}}},
		{"hash at a word start drops the line", "a #b c\nd", []tok{{"a", 1, "a"}, {"d", 2, "d"}}},
		{"comment line", "# x { }\ny", []tok{{"y", 2, "y"}}},
		{"quoted with spaces", `hosts "/a b" x`, []tok{{"hosts", 1, "hosts"}, {"/a b", 1, `"/a b"`}, {"x", 1, "x"}}},
		{"escaped quote", `"a\"b"`, []tok{{`a"b`, 1, `"a\"b"`}}},
		{"other backslashes kept", `"a\nb\\c"`, []tok{{`a\nb\\c`, 1, `"a\nb\\c"`}}},
		{"hash inside quotes", `"#x"`, []tok{{"#x", 1, `"#x"`}}},
		{"empty quotes", `a "" b`, []tok{{"a", 1, "a"}, {"", 1, `""`}, {"b", 1, "b"}}},
		{"quote inside word is literal", `a"b c"`, []tok{{`a"b`, 1, `a"b`}, {`c"`, 1, `c"`}}},
		{"multi-line quote", "\"a\nb\" c\nd", []tok{{"a\nb", 1, "\"a\nb\""}, {"c", 2, "c"}, {"d", 3, "d"}}},
		{"crlf", "a\r\nb\r\n", []tok{{"a", 1, "a"}, {"b", 2, "b"}}},
		{"byte order mark", "\uFEFFa b", []tok{{"a", 1, "a"}, {"b", 1, "b"}}},
		{"tabs and unicode space", "a\tb\u00a0c", []tok{{"a", 1, "a"}, {"b", 1, "b"}, {"c", 1, "c"}}},
		{"placeholder", "forward . {$UPSTREAM}", []tok{{"forward", 1, "forward"}, {".", 1, "."}, {"{$UPSTREAM}", 1, "{$UPSTREAM}"}}},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := lex([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []tok
			for _, tk := range tokens {
				got = append(got, tok{tk.Text, tk.Line, tt.src[tk.Start:tk.End]})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lex(%q)\n got %+v\nwant %+v", tt.src, got, tt.want)
			}
		})
	}
}

func TestLexUnterminatedQuote(t *testing.T) {
	_, err := lex([]byte("a\nb \"c d\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: quoted string is not closed") {
		t.Fatalf("err = %v, want line 2: quoted string is not closed", err)
	}
}

// caddyTokens returns the texts and lines of CoreDNS's own lexer.
func caddyTokens(src []byte) (texts []string, lines []int) {
	d := caddyfile.NewDispenser("Corefile", bytes.NewReader(src))
	for d.Next() {
		texts = append(texts, d.Val())
		lines = append(lines, d.Line())
	}
	return texts, lines
}

// checkLexMatchesCaddy fails t if lex reads src differently from CoreDNS.
func checkLexMatchesCaddy(t *testing.T, src []byte) {
	t.Helper()
	tokens, err := lex(src)
	if err != nil {
		if !strings.Contains(err.Error(), "quoted string is not closed") {
			t.Fatalf("lex: %v", err)
		}
		return // CoreDNS reads an unclosed quote to the end of the file; we refuse it
	}
	wantTexts, wantLines := caddyTokens(src)
	var texts []string
	var lines []int
	for _, tk := range tokens {
		texts = append(texts, tk.Text)
		lines = append(lines, tk.Line)
	}
	if !slices.Equal(texts, wantTexts) || !slices.Equal(lines, wantLines) {
		t.Fatalf("lex(%q)\n got %q %v\nwant %q %v (CoreDNS)", src, texts, lines, wantTexts, wantLines)
	}
}

func TestLexMatchesCaddyOnTestdata(t *testing.T) {
	for name, src := range corefiles(t) {
		t.Run(name, func(t *testing.T) { checkLexMatchesCaddy(t, src) })
	}
}

func FuzzLexMatchesCaddy(f *testing.F) {
	for _, src := range corefiles(f) {
		f.Add(src)
	}
	f.Add([]byte("a\"b\\\"c\" #d\r\ne"))
	f.Fuzz(checkLexMatchesCaddy)
}
