package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The install guide's conventions:
//   - the guide is the "## Install on your clusters" section of deploy/README.md;
//   - a fenced block with the info string "sh" holds commands and is run; other blocks
//     ("console", "yaml", ...) are for reading only;
//   - the one block marked "sh vars" assigns the variables the commands use, with example
//     values; it is not run: the tests supply their own values for exactly those names;
//   - every command block belongs to a "### " step; a step whose heading says "in every
//     cluster" runs once per member, any other step once.
const (
	guideHeading  = "## Install on your clusters"
	commandInfo   = "sh"
	variablesInfo = "sh vars"
	perClusterTag = "in every cluster"
)

// guide is the install guide of deploy/README.md, ready to run.
type guide struct {
	// variables are the names the "sh vars" block assigns, in order, with the example values.
	variables []variable
	steps     []step
}

type variable struct{ name, example string }

// step is a "### " section of the guide that has command blocks.
type step struct {
	heading    string
	perCluster bool
	// script is the step's command blocks joined, in order.
	script string
}

// guideParser walks a README line by line.
type guideParser struct {
	g        guide
	inGuide  bool
	sawGuide bool
	sawVars  bool
	step     *step
	// fence is the info string of the open code block ("" outside one), indent the
	// indentation of its opening line (a block nested in a list item), body its text.
	fence  string
	indent int
	body   strings.Builder
}

// parseGuide extracts the install guide from a README. It fails on a guide that breaks the
// conventions, so that an edit of the docs cannot silently take commands out of the test.
func parseGuide(readme []byte) (guide, error) {
	var p guideParser
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		if err := p.line(sc.Text()); err != nil {
			return guide{}, fmt.Errorf("README line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return guide{}, err
	}
	switch {
	case p.fence != "":
		return guide{}, fmt.Errorf("README: unterminated code block")
	case !p.sawGuide:
		return guide{}, fmt.Errorf("README: no %q section", guideHeading)
	case !p.sawVars:
		return guide{}, fmt.Errorf("README: the guide has no %q block", variablesInfo)
	}
	var steps []step
	for _, s := range p.g.steps {
		if s.script != "" {
			steps = append(steps, s)
		}
	}
	if len(steps) == 0 {
		return guide{}, fmt.Errorf("README: the guide has no %q blocks", commandInfo)
	}
	p.g.steps = steps
	return p.g, nil
}

func (p *guideParser) line(line string) error {
	trimmed := strings.TrimSpace(line)
	if p.fence != "" {
		if trimmed == "```" {
			err := p.endBlock()
			p.fence = ""
			return err
		}
		p.body.WriteString(trimIndent(line, p.indent) + "\n")
		return nil
	}
	switch {
	case strings.HasPrefix(trimmed, "```"):
		p.fence = strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))
		if p.fence == "" {
			p.fence = "text"
		}
		p.indent = len(line) - len(strings.TrimLeft(line, " "))
		p.body.Reset()
	case strings.HasPrefix(line, "## "):
		p.inGuide = line == guideHeading
		p.sawGuide = p.sawGuide || p.inGuide
		p.step = nil
	case strings.HasPrefix(line, "### ") && p.inGuide:
		heading := strings.TrimPrefix(line, "### ")
		p.g.steps = append(p.g.steps, step{
			heading:    heading,
			perCluster: strings.Contains(strings.ToLower(heading), perClusterTag),
		})
		p.step = &p.g.steps[len(p.g.steps)-1]
	}
	return nil
}

// endBlock files the code block that just closed.
func (p *guideParser) endBlock() error {
	switch {
	case !p.inGuide:
		return nil
	case p.fence == variablesInfo:
		if p.sawVars {
			return fmt.Errorf("a second %q block", variablesInfo)
		}
		p.sawVars = true
		vars, err := parseVariables(p.body.String())
		p.g.variables = vars
		return err
	case p.fence == commandInfo:
		if p.step == nil {
			return fmt.Errorf("a command block outside a \"### \" step")
		}
		p.step.script += p.body.String()
	case strings.HasPrefix(p.fence, commandInfo+" "):
		return fmt.Errorf("unknown block kind %q", p.fence)
	}
	return nil
}

var assignment = regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=(\S*)\s*(#.*)?$`)

// parseVariables reads NAME=value lines, each with an optional comment.
func parseVariables(body string) ([]variable, error) {
	var vars []variable
	seen := map[string]bool{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := assignment.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("%q is not a NAME=value assignment", line)
		}
		if seen[m[1]] {
			return nil, fmt.Errorf("%s is assigned twice", m[1])
		}
		seen[m[1]] = true
		vars = append(vars, variable{name: m[1], example: m[2]})
	}
	if len(vars) == 0 {
		return nil, fmt.Errorf("the %q block assigns nothing", variablesInfo)
	}
	return vars, nil
}

// trimIndent removes up to n leading spaces.
func trimIndent(line string, n int) string {
	i := 0
	for i < n && i < len(line) && line[i] == ' ' {
		i++
	}
	return line[i:]
}

func TestParseGuide(t *testing.T) {
	const vars = "```sh vars\nCONTEXT=east   # the context\nCLUSTER_ID=east\n```\n"
	tests := []struct {
		name    string
		readme  string
		want    guide
		wantErr string
	}{
		{
			name: "steps, modes and skipped blocks",
			readme: "# deploy\n```sh\necho before the guide\n```\n" +
				guideHeading + "\n" + vars +
				"- a list item\n\n  ```console\n  $ go build\n  ```\n" +
				"### 0. Once: images\n```sh\nmkdir -p a\n```\ntext\n```yaml\nkind: X\n```\n```sh\ntouch a/b\n```\n" +
				"### 1. In every cluster: CRDs\n```sh\nkubectl apply -k deploy/crds\n```\n" +
				"### Notes\nno commands here\n" +
				"## Afterwards\n```sh\necho after the guide\n```\n",
			want: guide{
				variables: []variable{{"CONTEXT", "east"}, {"CLUSTER_ID", "east"}},
				steps: []step{
					{heading: "0. Once: images", script: "mkdir -p a\ntouch a/b\n"},
					{heading: "1. In every cluster: CRDs", perCluster: true, script: "kubectl apply -k deploy/crds\n"},
				},
			},
		},
		{
			name:   "block nested in a list item loses the item's indentation",
			readme: guideHeading + "\n" + vars + "### 2. In one cluster: x\n- run:\n\n  ```sh\n  for f in *; do\n    echo \"$f\"\n  done\n  ```\n",
			want: guide{
				variables: []variable{{"CONTEXT", "east"}, {"CLUSTER_ID", "east"}},
				steps:     []step{{heading: "2. In one cluster: x", script: "for f in *; do\n  echo \"$f\"\ndone\n"}},
			},
		},
		{name: "no guide", readme: "# deploy\n```sh\nls\n```\n", wantErr: "no \"## Install on your clusters\" section"},
		{name: "no vars block", readme: guideHeading + "\n### 1. x\n```sh\nls\n```\n", wantErr: "no \"sh vars\" block"},
		{name: "two vars blocks", readme: guideHeading + "\n" + vars + vars, wantErr: "a second \"sh vars\" block"},
		{name: "vars block with a command", readme: guideHeading + "\n```sh vars\nA=1\nexport B=2\n```\n", wantErr: "not a NAME=value assignment"},
		{name: "vars block assigning twice", readme: guideHeading + "\n```sh vars\nA=1\nA=2\n```\n", wantErr: "A is assigned twice"},
		{name: "command block before any step", readme: guideHeading + "\n" + vars + "```sh\nls\n```\n", wantErr: "outside a \"### \" step"},
		{name: "unknown sh block kind", readme: guideHeading + "\n" + vars + "### 1. x\n```sh optional\nls\n```\n", wantErr: "unknown block kind \"sh optional\""},
		{name: "unterminated block", readme: guideHeading + "\n" + vars + "### 1. x\n```sh\nls\n", wantErr: "unterminated code block"},
		{name: "guide without commands", readme: guideHeading + "\n" + vars + "### 1. x\n```console\n$ ls\n```\n", wantErr: "no \"sh\" blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGuide([]byte(tt.readme))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseGuide:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The real guide follows the conventions, and every step is valid bash.
func TestGuideIsWellFormed(t *testing.T) {
	g := loadGuide(t)
	for _, s := range g.steps {
		cmd := exec.Command("bash", "-n")
		cmd.Stdin = strings.NewReader(s.script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("step %q is not valid bash: %v\n%s", s.heading, err, out)
		}
	}
}

// loadGuide parses the install guide of deploy/README.md.
func loadGuide(t *testing.T) guide {
	t.Helper()
	readme, err := os.ReadFile(readmePath(t))
	if err != nil {
		t.Fatal(err)
	}
	g, err := parseGuide(readme)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
