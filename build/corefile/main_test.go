package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/clusterset/clusterset/corefile"
)

const (
	examples = "../../corefile/examples/"
	testdata = "../../corefile/testdata/"
)

// result is what one run of the command printed.
type result struct {
	code           int
	stdout, stderr string
}

func runCommand(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kubeconfigFlags are the flags of the golden files' plugin setup.
var kubeconfigFlags = []string{"--kubeconfig", "/etc/coredns/clusterset/kubeconfig", "--ttl", "5"}

func TestPatchCorefile(t *testing.T) {
	tests := []struct {
		name   string
		input  string   // a Corefile under corefile/
		asFile bool     // pass input as FILE, not on stdin
		args   []string // after "patch"
		golden string
	}{
		{"default mode", "examples/kubeadm.Corefile", false, kubeconfigFlags, "kubeadm.block"},
		{"mode server, from a file", "examples/kubeadm.Corefile", true, append([]string{"--mode", "server"}, kubeconfigFlags...), "kubeadm.server"},
		{"stdin as -", "examples/k3s.Corefile", false, []string{"-mode=server", "-"}, "k3s.server"},
		{"port", "testdata/multiple-ports.Corefile", false, []string{"--port", "5353"}, "multiple-ports.block"},
		{"zone and fallthrough zones", "testdata/quoted.Corefile", false, []string{"--mode", "server", "--zone", "mcs.example", "--fallthrough=mcs.example"}, "quoted.server"},
		{"bare fallthrough", "testdata/whitespace.Corefile", false, []string{"--mode", "server", "--fallthrough"}, "whitespace.server"},
		{"context", "testdata/quoted.Corefile", false, []string{"--kubeconfig", "/etc/my config/kubeconfig", "--context", "member #1"}, "quoted.block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := "../../corefile/" + tt.input
			args := append([]string{"patch"}, tt.args...)
			var r result
			if tt.asFile {
				r = runCommand(t, "", append(args, input)...)
			} else {
				r = runCommand(t, readFile(t, input), args...)
			}
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if want := readFile(t, testdata+"golden/"+tt.golden+".Corefile"); r.stdout != want {
				t.Errorf("got\n%s\nwant (golden %s)\n%s", r.stdout, tt.golden, want)
			}
			again := runCommand(t, r.stdout, args...)
			if again.code != 0 || again.stdout != r.stdout {
				t.Errorf("patching the output again: exit %d, changed %v, stderr %q", again.code, again.stdout != r.stdout, again.stderr)
			}
		})
	}
}

func TestPatchConfigMap(t *testing.T) {
	tests := []struct {
		file   string
		args   []string
		golden string
		json   bool
	}{
		{"kubeadm.yaml", append([]string{"patch"}, kubeconfigFlags...), "kubeadm.block", false},
		{"kubeadm.yaml", append([]string{"patch", "--mode", "server"}, kubeconfigFlags...), "kubeadm.server", false},
		{"k3s.json", []string{"patch"}, "k3s.block", true},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.golden, func(t *testing.T) {
			in := readFile(t, testdata+"configmap/"+tt.file)
			r := runCommand(t, in, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			var cm struct {
				Kind     string
				Metadata struct{ ResourceVersion string }
				Data     map[string]string
			}
			if err := yaml.Unmarshal([]byte(r.stdout), &cm); err != nil {
				t.Fatalf("output is no manifest: %v\n%s", err, r.stdout)
			}
			if want := readFile(t, testdata+"golden/"+tt.golden+".Corefile"); cm.Data["Corefile"] != want {
				t.Errorf("data.Corefile is\n%s\nwant (golden %s)\n%s", cm.Data["Corefile"], tt.golden, want)
			}
			if cm.Kind != "ConfigMap" || cm.Metadata.ResourceVersion == "" {
				t.Errorf("kind %q, resourceVersion %q: want a ConfigMap that keeps its resourceVersion", cm.Kind, cm.Metadata.ResourceVersion)
			}
			if got := strings.HasPrefix(r.stdout, "{"); got != tt.json {
				t.Errorf("output is JSON: %v, want %v", got, tt.json)
			}
		})
	}
}

func TestLocal(t *testing.T) {
	r := runCommand(t, "", "local", "--bind", "127.0.0.2", "--port", "1053", "--kubeconfig", "/tmp/c2/kubeconfig", "--ttl", "5",
		"--ready", "127.0.0.2:8181", "--health", "127.0.0.2:8080", "--prometheus", "127.0.0.2:9153", "--cache", "5", "--log", "--fallthrough")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want, err := corefile.Local(corefile.LocalOptions{
		Clusterset: corefile.Clusterset{Kubeconfig: "/tmp/c2/kubeconfig", TTL: 5, Fallthrough: true},
		Bind:       "127.0.0.2", Port: 1053, Ready: "127.0.0.2:8181", Health: "127.0.0.2:8080", Prometheus: "127.0.0.2:9153", Cache: 5, Log: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.stdout != string(want) {
		t.Errorf("got\n%s\nwant\n%s", r.stdout, want)
	}
}

func TestErrors(t *testing.T) {
	kubeadm := readFile(t, examples+"kubeadm.Corefile")
	patched := runCommand(t, kubeadm, "patch").stdout
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string // in stderr
	}{
		{"no command", "", nil, 2, "Usage:"},
		{"unknown command", "", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", kubeadm, []string{"patch", "--nope"}, 2, "flag provided but not defined: -nope"},
		{"bad ttl value", kubeadm, []string{"patch", "--ttl", "five"}, 2, `invalid value "five" for flag -ttl`},
		{"two files", kubeadm, []string{"patch", "a", "b"}, 2, `patch takes at most one FILE, got ["a" "b"]`},
		{"local with an argument", "", []string{"local", "x"}, 2, `local takes no arguments`},
		{"empty input", "  \n", []string{"patch"}, 1, "the input is empty"},
		{"missing file", "", []string{"patch", "/nonexistent/Corefile"}, 1, "no such file or directory"},
		{"malformed Corefile", ".:53 {\n errors\n", []string{"patch"}, 1, `line 1: server block ".:53" is not closed`},
		{"unknown mode", kubeadm, []string{"patch", "--mode", "zone"}, 1, `unknown mode "zone"`},
		{"conflicting settings", patched, []string{"patch", "--ttl", "30"}, 1, "already serves clusterset.local with other settings"},
		{"server mode without root block", "example.org {\n whoami\n}\n", []string{"patch", "--mode", "server"}, 1, "no server block serves the root zone"},
		{"ConfigMap without Corefile", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: y\ndata:\n  a: b\n", []string{"patch"}, 1, `ConfigMap y/x has no data key "Corefile"`},
		{"not a ConfigMap", "apiVersion: v1\nkind: List\nitems: []\n", []string{"patch"}, 1, "not a v1 ConfigMap"},
		{"local with a bad port", "", []string{"local", "--port", "70000"}, 1, "port 70000 is outside 1..65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCommand(t, tt.stdin, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("wrote %q to stdout on error", r.stdout)
			}
		})
	}
}

// patch and check refuse a Corefile with a directive the build lacks, naming each, and patch
// writes nothing then, so "| kubectl replace -f -" replaces nothing.
func TestDirectivesOfTheBuild(t *testing.T) {
	kubeadm := readFile(t, examples+"kubeadm.Corefile")
	stockOnly := ".:53 {\n    errors\n    rewrite name a.example b.example\n    template IN A example.org {\n        answer \"{{ .Name }} 60 IN A 127.0.0.1\"\n    }\n    whoami\n    kubernetes cluster.local\n}\n"
	unknown := ".:53 {\n    errors\n    unbound\n    kubernetes cluster.local\n    alternate SERVFAIL . 10.0.0.1\n}\n"
	unknownCM := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\n  resourceVersion: \"1\"\ndata:\n  Corefile: |\n" +
		"    .:53 {\n        errors\n        unbound\n    }\n"
	const refused = `this CoreDNS build has no plugin for directives "unbound" (line 3, server block .:53), "alternate" (line 5, server block .:53)`
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // substring; "" means nothing
		stderr string // substring
	}{
		{"check kubeadm", kubeadm, []string{"check"}, 0, "ok: ", ""},
		{"check stock plugins", stockOnly, []string{"check"}, 0, "ok: ", ""},
		{"check the patched file", runCommand(t, kubeadm, "patch").stdout, []string{"check"}, 0, "ok: ", ""},
		{"check unknown", unknown, []string{"check"}, 1, "", "clusterset-corefile check: corefile: " + refused},
		{"check ConfigMap", unknownCM, []string{"check"}, 1, "", `no plugin for directive "unbound" (line 3, server block .:53)`},
		{"check ConfigMap key", "apiVersion: v1\nkind: ConfigMap\ndata:\n  Corefile: \". {\\n}\\n\"\n", []string{"check", "--key", "other"}, 1, "", `has no data key "other"`},
		{"check two files", kubeadm, []string{"check", "a", "b"}, 2, "", "check takes at most one FILE"},
		{"patch stock plugins", stockOnly, []string{"patch"}, 0, "clusterset", ""},
		{"patch unknown", unknown, []string{"patch"}, 1, "", "clusterset-corefile patch: corefile: " + refused},
		{"patch unknown, mode server", unknown, []string{"patch", "--mode", "server"}, 1, "", refused},
		{"patch ConfigMap", unknownCM, []string{"patch"}, 1, "", `no plugin for directive "unbound"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCommand(t, tt.stdin, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) || (tt.stdout == "") != (r.stdout == "") || !strings.Contains(r.stdout, tt.stdout) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"patch", "-h"}, {"check", "-h"}, {"local", "--help"}} {
		r := runCommand(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "Usage") {
			t.Errorf("%q: exit %d, output %q; want 0 and usage", args, r.code, r.stdout+r.stderr)
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteError(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"local"}, strings.NewReader(""), failingWriter{}, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("exit %d, stderr %q; want 1 and the write error", code, stderr.String())
	}
}
