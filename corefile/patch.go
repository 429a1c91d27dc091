package corefile

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Mode says where Patch puts the clusterset directive.
type Mode string

const (
	// ModeBlock adds a dedicated server block, "clusterset.local:53 { ... }",
	// at the end of the file. It is the default.
	ModeBlock Mode = "block"
	// ModeServer adds the directive to the existing server block of the root
	// zone ".", before its kubernetes directive.
	ModeServer Mode = "server"
)

// PatchOptions says how to patch a Corefile.
type PatchOptions struct {
	Mode Mode // empty means ModeBlock
	// Port selects the root server block by its port; empty means the only
	// root block, whatever its port. A dedicated block listens on the same
	// port, or on 53 when the file has no root block.
	Port       string
	Clusterset Clusterset
	// Directives, when not nil, are those of the CoreDNS build the Corefile is for: Patch
	// refuses a file that uses another, naming each (see File.UnknownDirectives).
	Directives []string
}

// directivesSharedWithRoot are copied from the root server block into a
// dedicated block: bind, so that both listen on the same addresses; ready, so
// that the readiness endpoint waits for the clusterset plugin too (ready only
// asks the plugins of its own server block); prometheus, so that queries for
// the zone are counted.
var directivesSharedWithRoot = []string{"bind", "ready", "prometheus"}

// Patch returns src changed to serve the clusterset zone through the
// clusterset plugin, in the given mode. It only inserts lines; every other byte
// stays as it was. If src already holds exactly the directive Patch would
// write, where the mode puts it, Patch returns src unchanged, so patching
// twice is patching once. It returns an error, and no Corefile, for malformed
// input, for a mode ModeServer file without a root server block, and when
// something else in the file already serves the zone: a server block, a
// directive naming the zone, or a clusterset directive with other settings.
// Imported files are not read, so what they hold is not checked. With
// o.Directives set, it also returns an error for a file that uses a directive
// the build lacks.
func Patch(src []byte, o PatchOptions) ([]byte, error) {
	p, err := newPatch(src, o)
	if err != nil {
		return nil, err
	}
	out, err := p.apply()
	if err != nil || bytes.Equal(out, src) {
		return out, err
	}
	// The result must be a Corefile that this patch leaves unchanged.
	again, err := newPatch(out, o)
	if err == nil {
		var done []byte
		if done, err = again.apply(); err == nil && !bytes.Equal(done, out) {
			err = fmt.Errorf("patching twice changes the file")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("corefile: internal error: the patched Corefile does not check: %w", err)
	}
	return out, nil
}

// patch is one Patch call: the parsed file and what to write into it.
type patch struct {
	f     *File
	mode  Mode
	c     Clusterset   // normalized
	zone  string       // c.Zone, fully qualified
	root  *ServerBlock // the root server block on the port, or nil
	port  string       // the port the zone is served on, as written in keys
	words []string     // token texts of the clusterset directive to write
}

func newPatch(src []byte, o PatchOptions) (*patch, error) {
	c, err := o.Clusterset.normalized()
	if err != nil {
		return nil, err
	}
	if o.Mode == "" {
		o.Mode = ModeBlock
	}
	if o.Mode != ModeBlock && o.Mode != ModeServer {
		return nil, fmt.Errorf("corefile: unknown mode %q: want %q or %q", o.Mode, ModeBlock, ModeServer)
	}
	if o.Port != "" {
		if err := checkArg(o.Port); err != nil || strings.ContainsAny(o.Port, ": \t") {
			return nil, fmt.Errorf("corefile: %q is not a port", o.Port)
		}
	}
	f, err := Parse(src)
	if err != nil {
		return nil, err
	}
	if o.Directives != nil {
		if err := unknownError(f.UnknownDirectives(o.Directives)); err != nil {
			return nil, err
		}
	}
	p := &patch{f: f, mode: o.Mode, c: c, zone: fqdn(c.Zone), port: o.Port, words: c.words()}
	root, rootPort, err := f.rootBlock(o.Port)
	if err != nil {
		return nil, err
	}
	if root != nil {
		p.root, p.port = root, rootPort
	} else if p.port == "" {
		p.port = "53"
	}
	return p, nil
}

// rootBlock returns the server block that serves the root zone "." over
// plain DNS, on port if it is not empty, and the port its key names.
func (f *File) rootBlock(port string) (*ServerBlock, string, error) {
	var root *ServerBlock
	var rootPort string
	for _, b := range f.Blocks {
		if b.Snippet {
			continue
		}
		for _, a := range b.Addresses() {
			if a.Zone != "." || a.Transport != "dns" || (port != "" && !a.listensOn(port)) {
				continue
			}
			if root != nil && root != b {
				return nil, "", fmt.Errorf("corefile: server blocks %q (line %d) and %q (line %d) both serve the root zone; select one by port", root.Name(), root.Line(), b.Name(), b.Line())
			}
			root, rootPort = b, a.Port
		}
	}
	return root, rootPort, nil
}

// apply returns the patched source, or the source itself when it is already
// patched.
func (p *patch) apply() ([]byte, error) {
	// A block without braces runs to the end of the file, so it can only be
	// the last one, and it would swallow an appended block.
	if n := len(p.f.Blocks); n > 0 && !p.f.Blocks[n-1].Braced {
		b := p.f.Blocks[n-1]
		return nil, fmt.Errorf("corefile: server block %q (line %d) has no braces; put its directives in '{' '}' before patching", b.Name(), b.Line())
	}
	if p.mode == ModeServer && p.root == nil {
		return nil, fmt.Errorf("corefile: no server block serves the root zone \".\" on port %s; use mode %q to add a server block", orDefaultPort(p.port), ModeBlock)
	}
	claims := p.claims()
	if len(claims) == 1 && p.isPatched(claims[0]) {
		return p.f.src, nil
	}
	if len(claims) > 0 {
		return nil, p.conflict(claims[0])
	}
	if p.mode == ModeServer {
		return p.insertDirective(), nil
	}
	return p.appendBlock(), nil
}

// claim is a place in the file that already answers for the zone: a whole
// server block, or one directive.
type claim struct {
	block     *ServerBlock
	directive *Directive // nil when the block claims the zone by its keys
}

// claims returns every place that answers for the zone on the port, and every
// snippet directive that could.
func (p *patch) claims() []claim {
	var claims []claim
	for _, b := range p.f.Blocks {
		switch {
		case b.Snippet:
		case !slices.ContainsFunc(b.Addresses(), func(a Address) bool { return a.listensOn(p.port) }):
			continue
		case slices.ContainsFunc(b.Addresses(), func(a Address) bool { return a.Zone == p.zone }):
			claims = append(claims, claim{block: b})
			continue
		case p.mode == ModeServer && b != p.root && slices.ContainsFunc(b.Addresses(), func(a Address) bool {
			return a.Zone != "." && strings.HasSuffix(p.zone, "."+a.Zone)
		}):
			claims = append(claims, claim{block: b}) // a parent zone's block would take the queries from the root block
			continue
		}
		for i, d := range b.Directives {
			if p.names(d) {
				claims = append(claims, claim{block: b, directive: &b.Directives[i]})
			}
		}
	}
	return claims
}

// names reports whether d serves the zone: it names it as an argument, or it
// is a clusterset directive without zones, which serves the default zone.
func (p *patch) names(d Directive) bool {
	args := d.Args()
	if d.Name() == "clusterset" && len(args) == 0 {
		return true
	}
	return slices.ContainsFunc(args, func(a string) bool { return fqdn(a) == p.zone })
}

// isPatched reports whether c is exactly what this patch writes.
func (p *patch) isPatched(c claim) bool {
	if p.mode == ModeServer {
		return c.block == p.root && c.directive != nil && p.isWanted(*c.directive)
	}
	if c.directive != nil {
		return false
	}
	var found []Directive
	for _, d := range c.block.Directives {
		if d.Name() == "clusterset" {
			found = append(found, d)
		}
	}
	return len(found) == 1 && p.isWanted(found[0])
}

func (p *patch) isWanted(d Directive) bool {
	return d.Name() == "clusterset" && slices.Equal(tokenTexts(d.Tokens), p.words)
}

func tokenTexts(tokens []Token) []string {
	texts := make([]string, len(tokens))
	for i, t := range tokens {
		texts[i] = t.Text
	}
	return texts
}

// conflict explains why c stops the patch.
func (p *patch) conflict(c claim) error {
	zone := strings.TrimSuffix(p.zone, ".")
	want := strings.Join(p.words, " ")
	where := fmt.Sprintf("server block %q (line %d)", c.block.Name(), c.block.Line())
	if c.block.Snippet {
		where = fmt.Sprintf("snippet %s (line %d)", c.block.Name(), c.block.Line())
	}
	switch {
	case c.directive == nil && !slices.ContainsFunc(c.block.Addresses(), func(a Address) bool { return a.Zone == p.zone }):
		return fmt.Errorf("corefile: %s serves a parent zone of %s, so the root server block would not see its queries; use mode %q", where, zone, ModeBlock)
	case c.directive == nil:
		for _, d := range c.block.Directives {
			if d.Name() == "clusterset" {
				if p.mode == ModeServer && p.isWanted(d) {
					return fmt.Errorf("corefile: %s already serves %s with a dedicated server block; that is mode %q, not %q", where, zone, ModeBlock, p.mode)
				}
				return fmt.Errorf("corefile: %s already serves %s with other settings: have %q, want %q", where, zone, d.Text(), want)
			}
		}
		return fmt.Errorf("corefile: %s already serves %s without the clusterset plugin; remove that block first", where, zone)
	case c.directive.Name() == "clusterset" && p.isWanted(*c.directive):
		return fmt.Errorf("corefile: line %d: %s already has this clusterset directive; mode %q puts it elsewhere, so remove it or use the mode that wrote it", c.directive.Line(), where, p.mode)
	case c.directive.Name() == "clusterset":
		return fmt.Errorf("corefile: line %d: %s already has a clusterset directive with other settings: have %q, want %q", c.directive.Line(), where, c.directive.Text(), want)
	default:
		return fmt.Errorf("corefile: line %d: directive %q in %s already serves %s; remove it first", c.directive.Line(), c.directive.Name(), where, zone)
	}
}

// insertDirective writes the clusterset directive into the root block, on
// its own lines before the kubernetes directive, or else before the block's
// closing brace. Where it goes is cosmetic: CoreDNS orders plugins by its
// build, not by the file.
func (p *patch) insertDirective() []byte {
	at, anchorDepth := p.root.Close.Start, 0
	if i := slices.IndexFunc(p.root.Directives, func(d Directive) bool { return d.Name() == "kubernetes" }); i >= 0 {
		at, anchorDepth = p.root.Directives[i].Tokens[0].Start, 1
	}
	w := newWriter(p.indent(p.root), p.eol())
	lineStart, alone := lineStartBefore(p.f.src, at)
	if alone {
		p.c.write(w, 1)
		return splice(p.f.src, lineStart, w.bytes())
	}
	// The anchor shares its line with '{': break the line before it.
	w.buf.WriteString(w.eol)
	p.c.write(w, 1)
	w.buf.WriteString(strings.Repeat(w.indent, anchorDepth))
	return splice(p.f.src, at, w.bytes())
}

// appendBlock writes a dedicated server block for the zone at the end of the
// file, after a blank line.
func (p *patch) appendBlock() []byte {
	src := p.f.src
	indent := "    "
	if p.root != nil {
		indent = p.indent(p.root)
	}
	w := newWriter(indent, p.eol())
	if len(src) > 0 && !bytes.HasSuffix(src, []byte("\n")) {
		w.buf.WriteString(w.eol)
	}
	if len(src) > 0 && !bytes.HasSuffix(src, []byte("\n\n")) && !bytes.HasSuffix(src, []byte("\n\r\n")) {
		w.buf.WriteString(w.eol)
	}
	key := strings.TrimSuffix(p.zone, ".")
	if p.port != "" {
		key += ":" + p.port
	}
	w.line(0, key, "{")
	if p.root != nil {
		for _, d := range p.root.Directives {
			if slices.Contains(directivesSharedWithRoot, d.Name()) {
				w.copy(1, d, p.f.src)
			}
		}
	}
	w.line(1, "errors")
	w.line(1, "cache", "30")
	p.c.write(w, 1)
	w.line(0, "}")
	return splice(src, len(src), w.bytes())
}

// indent returns one level of indentation as b's first directive has it, or
// four spaces.
func (p *patch) indent(b *ServerBlock) string {
	if len(b.Directives) > 0 {
		start, alone := lineStartBefore(p.f.src, b.Directives[0].Tokens[0].Start)
		if ws := string(p.f.src[start:b.Directives[0].Tokens[0].Start]); alone && ws != "" {
			return ws
		}
	}
	return "    "
}

// eol returns the file's line ending.
func (p *patch) eol() string {
	if bytes.Contains(p.f.src, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// lineStartBefore returns the offset where the line holding src[at] starts,
// and whether only white space precedes src[at] on that line.
func lineStartBefore(src []byte, at int) (int, bool) {
	start := bytes.LastIndexByte(src[:at], '\n') + 1
	return start, len(bytes.TrimSpace(src[start:at])) == 0
}

func splice(src []byte, at int, text []byte) []byte {
	out := make([]byte, 0, len(src)+len(text))
	out = append(out, src[:at]...)
	out = append(out, text...)
	return append(out, src[at:]...)
}
