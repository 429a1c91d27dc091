package corefile

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Token is one word of a Corefile, located in the source so that a patch can
// insert text next to it without touching anything else.
type Token struct {
	Text  string // the word as CoreDNS reads it: quotes removed, \" unescaped
	Line  int    // line of the token's first byte, 1-based
	Start int    // byte offset of the token's first byte (its opening quote, if quoted)
	End   int    // byte offset just past the token's last byte
	// endLine is the line of the token's last byte; a quoted token may span lines,
	// and CoreDNS decides whether the next token starts a new line from it.
	endLine int
}

// utf8BOM is skipped at the start of a file, as CoreDNS's lexer does.
const utf8BOM = "\uFEFF"

// lex splits src into tokens with the rules of CoreDNS's Caddyfile lexer
// (github.com/coredns/caddy/caddyfile): words are separated by Unicode white
// space; '#' at the start of a word starts a comment that runs to the end of
// the line, while '#' inside a word drops only the rest of that word; a word that starts with '"' runs to the closing '"', where \" is a quote
// and any other backslash is kept; '\r' outside quotes is dropped. Unlike
// CoreDNS, an unterminated quote is an error rather than a token running to the
// end of the file.
func lex(src []byte) ([]Token, error) {
	var tokens []Token
	line := 1
	i := 0
	if bytes.HasPrefix(src, []byte(utf8BOM)) {
		i = len(utf8BOM)
	}
	for i < len(src) {
		r, n := utf8.DecodeRune(src[i:])
		switch {
		case r == '\n':
			line++
			i += n
		case unicode.IsSpace(r):
			i += n
		case r == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case r == '"':
			t, err := lexQuoted(src, i, line)
			if err != nil {
				return nil, err
			}
			tokens = append(tokens, t)
			line = t.endLine
			i = t.End
		default:
			var t Token
			t, i = lexWord(src, i, line)
			tokens = append(tokens, t)
		}
	}
	return tokens, nil
}

// lexQuoted reads the quoted token whose opening quote is at src[start].
func lexQuoted(src []byte, start, line int) (Token, error) {
	var text strings.Builder
	escaped := false
	t := Token{Line: line, Start: start}
	for i := start + 1; i < len(src); {
		r, n := utf8.DecodeRune(src[i:])
		i += n
		switch {
		case !escaped && r == '\\':
			escaped = true
			continue
		case !escaped && r == '"':
			t.Text, t.End, t.endLine = text.String(), i, line
			return t, nil
		case r == '\n':
			line++
		}
		if escaped && r != '"' {
			text.WriteByte('\\') // only quotes are escaped; keep the backslash
		}
		text.WriteRune(r)
		escaped = false
	}
	return Token{}, fmt.Errorf("line %d: quoted string is not closed", t.Line)
}

// lexWord reads the unquoted token that starts at src[start], and returns it
// with the offset to read on from.
func lexWord(src []byte, start, line int) (Token, int) {
	var text strings.Builder
	end := start
	i := start
	for i < len(src) {
		r, n := utf8.DecodeRune(src[i:])
		if r == '\r' {
			i += n // dropped, but does not end the word
			continue
		}
		if r == '#' {
			// As in CoreDNS, '#' inside a word drops the rest of the word
			// only; the next word on the line is read again.
			for i < len(src) {
				r, n := utf8.DecodeRune(src[i:])
				if r != '\r' && unicode.IsSpace(r) {
					break
				}
				i += n
			}
			break
		}
		if unicode.IsSpace(r) {
			break
		}
		text.WriteRune(r)
		i += n
		end = i
	}
	return Token{Text: text.String(), Line: line, Start: start, End: end, endLine: line}, i
}
