// Package render prints the reports of kubectl clusterset: as aligned tables, coloured when
// asked (on a terminal), or as JSON or YAML of the report model.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Format is an output format.
type Format string

// The output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat reads -o's value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Table, JSON, YAML:
		return f, nil
	}
	return "", fmt.Errorf("unknown output format %q: want table, json or yaml", s)
}

// Printer prints reports.
type Printer struct {
	Out    io.Writer
	Format Format
	// Colour marks good, bad and unknown cells with ANSI colours (tables only).
	Colour bool
}

// object prints v as JSON or YAML; it reports whether the format was one of those.
func (p Printer) object(v any) (bool, error) {
	switch p.Format {
	case JSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(p.Out, "%s\n", b)
		return true, err
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = p.Out.Write(b)
		return true, err
	}
	return false, nil
}

// Cell colours.
const (
	plain  = ""
	good   = "\x1b[32m"
	bad    = "\x1b[31m"
	unsure = "\x1b[33m"
	reset  = "\x1b[0m"
)

type cell struct{ text, colour string }

func c(text string) cell             { return cell{text, plain} }
func coloured(text, col string) cell { return cell{text, col} }

// table aligns its columns on the plain text (escape codes have no width) and prints notes,
// full lines outside the columns, after the rows they follow.
type table struct{ rows []row }

type row struct {
	cells []cell
	note  *cell // a full line instead of cells
}

func (t *table) add(cells ...cell) { t.rows = append(t.rows, row{cells: cells}) }
func (t *table) note(n cell)       { t.rows = append(t.rows, row{note: &n}) }

func (t *table) write(w io.Writer, colour bool) error {
	var widths []int
	for _, r := range t.rows {
		for i, cl := range r.cells {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cl.text))
		}
	}
	paint := func(cl cell) string {
		if colour && cl.colour != plain {
			return cl.colour + cl.text + reset
		}
		return cl.text
	}
	var b strings.Builder
	for _, r := range t.rows {
		if r.note != nil {
			b.WriteString(paint(*r.note) + "\n")
			continue
		}
		for i, cl := range r.cells {
			b.WriteString(paint(cl))
			if i < len(r.cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cl.text)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// problem is a report's line about something wrong.
func problem(text string) cell { return coloured("  ! "+text, bad) }
