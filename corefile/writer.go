package corefile

import (
	"bytes"
	"strings"
)

// writer writes Corefile lines with a fixed indentation style, so that
// inserted text looks like the file around it.
type writer struct {
	buf    bytes.Buffer
	indent string // one level of nesting, such as four spaces or a tab
	eol    string // "\n", or "\r\n" in a file that uses it
}

func newWriter(indent, eol string) *writer { return &writer{indent: indent, eol: eol} }

func (w *writer) bytes() []byte { return w.buf.Bytes() }

// line writes words, already quoted as needed, on one line at depth.
func (w *writer) line(depth int, words ...string) {
	w.buf.WriteString(strings.Repeat(w.indent, depth))
	w.buf.WriteString(strings.Join(words, " "))
	w.buf.WriteString(w.eol)
}

// copy writes directive d of src at depth, one line per source line, indented
// by brace depth. Words keep their source spelling: quotes and placeholders.
func (w *writer) copy(depth int, d Directive, src []byte) {
	var words []string
	lineDepth := depth
	for i, t := range d.Tokens {
		if i == 0 || t.Line > d.Tokens[i-1].endLine {
			if i > 0 {
				w.line(lineDepth, words...)
				words = nil
			}
			lineDepth = depth
			if t.Text == "}" {
				lineDepth--
			}
		}
		switch t.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
		words = append(words, string(src[t.Start:t.End]))
	}
	w.line(lineDepth, words...)
}
