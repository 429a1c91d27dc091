// Package corefile reads CoreDNS Corefiles and patches them to serve the
// clusterset.local zone through the clusterset plugin. A patch inserts lines
// and leaves every other byte of the file as it was: comments, indentation,
// ordering, environment placeholders, imports and snippets. The package also
// writes the Corefile of a standalone CoreDNS that serves only the clusterset
// zone, as the demo and the tests run one per cluster.
package corefile

import (
	"fmt"
	"strings"
)

// File is a parsed Corefile. It keeps the source so that a patch can splice
// text into it.
type File struct {
	src     []byte
	Blocks  []*ServerBlock // server blocks and snippet definitions, in file order
	Imports []Directive    // import lines outside any server block
}

// ServerBlock is a server block, or a snippet definition "(name) { ... }".
type ServerBlock struct {
	Keys       []Token // addresses such as ".:53" or "dns://example.org", trailing commas removed
	Snippet    bool    // a snippet: its directives apply where it is imported
	Braced     bool    // false for a single block without braces, which runs to the end of the file
	Open       Token   // "{", when Braced
	Close      Token   // "}", when Braced
	Directives []Directive
}

// Directive is one directive of a server block: its name, its arguments and,
// if it has one, its nested block.
type Directive struct {
	Tokens []Token // the name first; braces of nested blocks included
}

// Name returns the directive's name, such as "kubernetes".
func (d Directive) Name() string { return d.Tokens[0].Text }

// Line returns the line the directive starts on.
func (d Directive) Line() int { return d.Tokens[0].Line }

// Args returns the arguments before the directive's nested block, if any.
func (d Directive) Args() []string {
	var args []string
	for _, t := range d.Tokens[1:] {
		if t.Text == "{" {
			break
		}
		args = append(args, t.Text)
	}
	return args
}

// Text returns the directive's words joined by spaces, for messages.
func (d Directive) Text() string {
	words := make([]string, len(d.Tokens))
	for i, t := range d.Tokens {
		words[i] = t.Text
	}
	return strings.Join(words, " ")
}

// Address is a server block key taken apart: "dns://clusterset.local:53" is
// transport "dns", zone "clusterset.local." and port "53".
type Address struct {
	Transport string // "dns" unless the key names another, such as "tls"
	Zone      string // lower case, fully qualified: "." or "example.org."
	Port      string // as written; empty when the key has none
}

// ParseAddress takes a server block key apart. It does not validate the key:
// CoreDNS does that when it loads the file.
func ParseAddress(key string) Address {
	a := Address{Transport: "dns"}
	if scheme, rest, ok := strings.Cut(key, "://"); ok {
		a.Transport, key = strings.ToLower(scheme), rest
	}
	a.Zone = key
	if i := strings.LastIndexByte(key, ':'); i >= 0 {
		a.Zone, a.Port = key[:i], key[i+1:]
	}
	a.Zone = fqdn(a.Zone)
	return a
}

// listensOn reports whether a is a plain DNS address on port, where an empty
// port means CoreDNS's default, 53.
func (a Address) listensOn(port string) bool {
	return a.Transport == "dns" && orDefaultPort(a.Port) == orDefaultPort(port)
}

func orDefaultPort(port string) string {
	if port == "" {
		return "53"
	}
	return port
}

// fqdn returns zone in lower case with a trailing dot; "" becomes ".".
func fqdn(zone string) string {
	zone = strings.ToLower(zone)
	if !strings.HasSuffix(zone, ".") {
		zone += "."
	}
	return zone
}

// Addresses returns the block's keys taken apart.
func (b *ServerBlock) Addresses() []Address {
	addrs := make([]Address, len(b.Keys))
	for i, k := range b.Keys {
		addrs[i] = ParseAddress(k.Text)
	}
	return addrs
}

// Name returns the block's keys as written, for messages.
func (b *ServerBlock) Name() string {
	keys := make([]string, len(b.Keys))
	for i, k := range b.Keys {
		keys[i] = k.Text
	}
	return strings.Join(keys, " ")
}

// Line returns the line the block starts on.
func (b *ServerBlock) Line() int { return b.Keys[0].Line }

// Parse reads a Corefile the way CoreDNS's Caddyfile parser groups it into
// server blocks and directives, without expanding imports or placeholders.
// Errors name the line of unbalanced braces and other malformed input.
func Parse(src []byte) (*File, error) {
	tokens, err := lex(src)
	if err != nil {
		return nil, fmt.Errorf("corefile: %w", err)
	}
	p := &parser{tokens: tokens}
	f := &File{src: src}
	snippets := map[string]int{} // name to line, as CoreDNS refuses a name declared twice
	for p.more() {
		t := p.tok()
		switch {
		case t.Text == "import" && p.atLineStart():
			f.Imports = append(f.Imports, p.restOfLine())
		case t.Text == "{" || t.Text == "}":
			return nil, fmt.Errorf("corefile: line %d: unexpected %q outside a server block", t.Line, t.Text)
		default:
			b, err := p.serverBlock()
			if err != nil {
				return nil, fmt.Errorf("corefile: %w", err)
			}
			if first, ok := snippets[b.Name()]; ok && b.Snippet {
				return nil, fmt.Errorf("corefile: line %d: snippet %s is already declared on line %d", b.Line(), b.Name(), first)
			} else if b.Snippet {
				snippets[b.Name()] = b.Line()
			}
			f.Blocks = append(f.Blocks, b)
		}
	}
	return f, nil
}

type parser struct {
	tokens []Token
	i      int // index of the current token
}

func (p *parser) more() bool { return p.i < len(p.tokens) }
func (p *parser) tok() Token { return p.tokens[p.i] }

// atLineStart reports whether the current token is the first of its line.
func (p *parser) atLineStart() bool {
	return p.i == 0 || p.tokens[p.i-1].endLine < p.tokens[p.i].Line
}

// restOfLine consumes the current token and the others on its line.
func (p *parser) restOfLine() Directive {
	start := p.i
	for p.i++; p.more() && !p.atLineStart(); p.i++ {
	}
	return Directive{Tokens: p.tokens[start:p.i]}
}

// serverBlock reads the keys, then the braced or brace-less body, of a block.
func (p *parser) serverBlock() (*ServerBlock, error) {
	b := &ServerBlock{}
	for comma := false; ; {
		t := p.tok()
		if t.Text == "{" {
			if comma {
				return nil, fmt.Errorf("line %d: expected another address after ',' but found '{'", t.Line)
			}
			break
		}
		if t.Text != "" {
			key := t
			key.Text, comma = strings.CutSuffix(t.Text, ",")
			b.Keys = append(b.Keys, key)
		}
		p.i++
		if !p.more() && comma {
			return nil, fmt.Errorf("line %d: expected another address after ','", t.Line)
		}
		if !p.more() || !comma && p.atLineStart() {
			break
		}
	}
	if len(b.Keys) == 0 {
		return nil, fmt.Errorf("line %d: server block without addresses", p.tokens[p.i-1].Line)
	}
	if !p.more() {
		return b, nil // keys and nothing else
	}
	b.Snippet = len(b.Keys) == 1 && strings.HasPrefix(b.Keys[0].Text, "(") && strings.HasSuffix(b.Keys[0].Text, ")")

	if p.tok().Text != "{" {
		if b.Snippet {
			return nil, fmt.Errorf("line %d: snippet %s needs a '{'", b.Line(), b.Name())
		}
		// A block without braces holds every directive up to the end of the file.
		for p.more() {
			if t := p.tok(); t.Text == "}" {
				return nil, fmt.Errorf("line %d: unexpected '}': server block %q (line %d) has no '{'", t.Line, b.Name(), b.Line())
			}
			d, err := p.directive(false)
			if err != nil {
				return nil, err
			}
			b.Directives = append(b.Directives, d)
		}
		return b, nil
	}

	b.Braced, b.Open = true, p.tok()
	for p.i++; p.more(); {
		if t := p.tok(); t.Text == "}" {
			b.Close = t
			p.i++
			return b, nil
		}
		d, err := p.directive(b.Snippet)
		if err != nil {
			return nil, err
		}
		b.Directives = append(b.Directives, d)
	}
	return nil, fmt.Errorf("line %d: server block %q is not closed: missing '}'", b.Open.Line, b.Name())
}

// directive reads the current token as a directive name, then its arguments
// up to the end of the line, then its nested block if it opens one. As in
// CoreDNS, a '}' that closes the server block must start its own line, except
// in a snippet, whose body CoreDNS only counts braces in.
func (p *parser) directive(inSnippet bool) (Directive, error) {
	start, name := p.i, p.tok()
	nesting := 0
	if inSnippet && name.Text == "{" {
		nesting = 1 // CoreDNS counts every brace of a snippet
	}
	for p.i++; p.more(); p.i++ {
		t := p.tok()
		switch {
		case t.Text == "{":
			nesting++
		case nesting == 0 && p.atLineStart():
			return Directive{Tokens: p.tokens[start:p.i]}, nil
		case t.Text == "}" && nesting > 0:
			nesting--
		case t.Text == "}" && inSnippet:
			return Directive{Tokens: p.tokens[start:p.i]}, nil
		case t.Text == "}":
			return Directive{}, fmt.Errorf("line %d: unexpected '}' after directive %q: the '}' that closes a server block must start its own line", t.Line, name.Text)
		}
	}
	if nesting > 0 {
		return Directive{}, fmt.Errorf("line %d: block of directive %q is not closed: missing '}'", name.Line, name.Text)
	}
	return Directive{Tokens: p.tokens[start:p.i]}, nil
}
