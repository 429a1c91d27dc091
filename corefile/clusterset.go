package corefile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// DefaultZone is the zone of the Multi-Cluster Services DNS specification.
const DefaultZone = "clusterset.local"

// Clusterset holds the settings of one clusterset directive; plugin/README.md
// documents them.
type Clusterset struct {
	Zone             string   // zone to serve; empty means DefaultZone
	Kubeconfig       string   // kubeconfig file; empty means the in-cluster config
	Context          string   // kubeconfig context; needs Kubeconfig
	TTL              int      // answer TTL in seconds, 1 to 3600; 0 leaves the plugin's default (5)
	Fallthrough      bool     // pass names the plugin does not know to the next plugin
	FallthroughZones []string // limit fallthrough to these zones; implies Fallthrough
}

// zonePattern accepts the domain names a server block key or plugin argument
// can hold: dot-separated labels, optionally fully qualified.
var zonePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$`)

// normalized returns c with defaults filled in, or an error naming the first
// setting that cannot be written.
func (c Clusterset) normalized() (Clusterset, error) {
	if c.Zone == "" {
		c.Zone = DefaultZone
	}
	for _, z := range append([]string{c.Zone}, c.FallthroughZones...) {
		if !zonePattern.MatchString(z) {
			return c, fmt.Errorf("corefile: %q is not a DNS zone", z)
		}
	}
	if c.Context != "" && c.Kubeconfig == "" {
		return c, fmt.Errorf("corefile: a kubeconfig context (%q) needs a kubeconfig file", c.Context)
	}
	if c.TTL < 0 || c.TTL > 3600 {
		return c, fmt.Errorf("corefile: ttl %d is outside 0..3600", c.TTL)
	}
	for _, s := range []string{c.Kubeconfig, c.Context} {
		if err := checkArg(s); err != nil {
			return c, err
		}
	}
	c.Fallthrough = c.Fallthrough || len(c.FallthroughZones) > 0
	return c, nil
}

// write writes the directive of normalized settings c at depth.
func (c Clusterset) write(w *writer, depth int) {
	var body [][]string
	if c.Kubeconfig != "" {
		words := []string{"kubeconfig", arg(c.Kubeconfig)}
		if c.Context != "" {
			words = append(words, arg(c.Context))
		}
		body = append(body, words)
	}
	if c.TTL != 0 {
		body = append(body, []string{"ttl", strconv.Itoa(c.TTL)})
	}
	if c.Fallthrough {
		body = append(body, append([]string{"fallthrough"}, c.FallthroughZones...))
	}
	if len(body) == 0 {
		w.line(depth, "clusterset", c.Zone)
		return
	}
	w.line(depth, "clusterset", c.Zone, "{")
	for _, words := range body {
		w.line(depth+1, words...)
	}
	w.line(depth, "}")
}

// words returns the token texts of the directive of normalized settings c, to
// compare with a directive already in a file.
func (c Clusterset) words() []string {
	w := newWriter("", "\n")
	c.write(w, 0)
	tokens, err := lex(w.bytes())
	if err != nil {
		panic("corefile: unreadable clusterset directive: " + err.Error()) // arguments were checked
	}
	words := make([]string, len(tokens))
	for i, t := range tokens {
		words[i] = t.Text
	}
	return words
}

// checkArg returns an error when s cannot be written as one Corefile argument:
// CoreDNS reads a lone brace as a block delimiter even when quoted, and its
// quoted strings cannot end in a backslash or hold a backslash-quote.
func checkArg(s string) error {
	if s == "{" || s == "}" {
		return fmt.Errorf("corefile: %q cannot be written as a Corefile argument", s)
	}
	if needsQuotes(s) && (strings.HasSuffix(s, `\`) || strings.Contains(s, `\"`)) {
		return fmt.Errorf("corefile: %q cannot be written as a Corefile argument: it needs quotes and holds a backslash before a quote or at its end", s)
	}
	return nil
}

func needsQuotes(s string) bool {
	return s == "" || strings.HasPrefix(s, `"`) || strings.ContainsFunc(s, func(r rune) bool {
		return r == '#' || unicode.IsSpace(r)
	})
}

// arg returns s as a Corefile argument, quoted if it must be. s has passed
// checkArg.
func arg(s string) string {
	if !needsQuotes(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
