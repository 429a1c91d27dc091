package corefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UnknownDirective is a directive that the CoreDNS build lacks, where a file first uses it.
type UnknownDirective struct {
	Name  string
	Line  int
	Block string // the keys of its server block, or the snippet's "(name)"
}

// UnknownDirectives returns, in file order, the first use of every directive of f that is not in
// known: in server blocks, and in the snippets they import. CoreDNS refuses to start on such a
// file, so a Corefile is checked against the build before it reaches a running server. Import
// lines are left to CoreDNS, and so are directive names that hold an environment placeholder
// ("{$NAME}"), which only the running server can expand; imported files are not read.
func (f *File) UnknownDirectives(known []string) []UnknownDirective {
	imported := map[string]bool{}
	for _, b := range f.Blocks {
		for _, d := range b.Directives {
			if d.Name() == "import" {
				for _, a := range d.Args() {
					imported["("+a+")"] = true
				}
			}
		}
	}
	for _, d := range f.Imports {
		for _, a := range d.Args() {
			imported["("+a+")"] = true
		}
	}
	var unknown []UnknownDirective
	seen := map[string]bool{}
	for _, b := range f.Blocks {
		if b.Snippet && !imported[b.Name()] {
			continue // CoreDNS parses a snippet only where it is imported
		}
		for _, d := range b.Directives {
			name := d.Name()
			if name == "import" || strings.Contains(name, "{$") || seen[name] || slices.Contains(known, name) {
				continue
			}
			seen[name] = true
			unknown = append(unknown, UnknownDirective{Name: name, Line: d.Line(), Block: b.Name()})
		}
	}
	return unknown
}

// CheckDirectives returns an error naming every directive of the Corefile src that is not in
// known, the directives of the CoreDNS build that is to run it, or nil if there is none.
func CheckDirectives(src []byte, known []string) error {
	f, err := Parse(src)
	if err != nil {
		return err
	}
	return unknownError(f.UnknownDirectives(known))
}

func unknownError(unknown []UnknownDirective) error {
	if len(unknown) == 0 {
		return nil
	}
	uses := make([]string, len(unknown))
	for i, u := range unknown {
		where := "server block " + u.Block
		if strings.HasPrefix(u.Block, "(") {
			where = "snippet " + u.Block
		}
		uses[i] = fmt.Sprintf("%q (line %d, %s)", u.Name, u.Line, where)
	}
	return fmt.Errorf("corefile: this CoreDNS build has no plugin for %s %s; CoreDNS would refuse to start on this Corefile",
		plural(len(unknown), "directive", "directives"), strings.Join(uses, ", "))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// CorefileOf returns the Corefile under data[key] of a ConfigMap manifest, YAML or JSON.
func CorefileOf(manifest []byte, key string) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(manifest)) // JSON is YAML
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("corefile: reading the ConfigMap: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("corefile: the input holds more than one document; give one ConfigMap")
	}
	s, err := corefileOf(obj, key)
	return []byte(s), err
}
