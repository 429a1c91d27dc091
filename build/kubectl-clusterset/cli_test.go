package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/clusterset/clusterset/syncer/inspect"
)

// kubeconfig writes a kubeconfig whose contexts reach servers that refuse connections.
func kubeconfig(t *testing.T, contexts ...string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, name := range contexts {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "t"}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	path := filepath.Join(t.TempDir(), "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, env{stdout: &out, stderr: &errOut, now: time.Now})
	return code, out.String(), errOut.String()
}

func TestBadInput(t *testing.T) {
	kc := kubeconfig(t, "a", "b")
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "Usage:"},
		{[]string{"show"}, `unknown command "show"`},
		{[]string{"status", "web", "--kubeconfig", kc}, `"web": want NAMESPACE/NAME`},
		{[]string{"status", "a/b", "c/d", "--kubeconfig", kc}, "at most one NAMESPACE/NAME"},
		{[]string{"members", "demo/web", "--kubeconfig", kc}, "members takes no arguments"},
		{[]string{"status", "-o", "wide", "--kubeconfig", kc}, `unknown output format "wide"`},
		{[]string{"status", "--timeout", "0s", "--kubeconfig", kc}, "--timeout must be positive"},
		{[]string{"status", "--kubeconfig", kc, "--contexts", "a,x"}, `context "x" is not in the kubeconfig`},
		{[]string{"status", "--kubeconfig-dir", t.TempDir(), "--contexts", "a"}, "cannot be combined"},
		{[]string{"status", "--kubeconfig-dir", t.TempDir()}, "no kubeconfig files"},
		{[]string{"status", "--dns", "a=127.0.0.1:53", "--kubeconfig", kc}, "--dns applies to check only"},
		{[]string{"check", "--dns", "a=127.0.0.1", "--kubeconfig", kc}, "want MEMBER=HOST:PORT"},
		{[]string{"check", "--dns", "a=127.0.0.1:0", "--kubeconfig", kc}, "not a number from 1 to 65535"},
		{[]string{"status", "--no-such-flag"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, tt.args...)
		if code != exitBadInput || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, exitBadInput, tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runCLI(t, "help")
	if code != exitOK || !strings.Contains(stdout, "kubectl clusterset status [NAMESPACE/NAME]") || !strings.Contains(stdout, "-kubeconfig-dir") {
		t.Errorf("help: exit %d:\n%s", code, stdout)
	}
}

// Flags go anywhere, as kubectl users write them; unreachable members are reported, not an
// error: status and members exit 0, check 3 (nothing could be checked).
func TestUnreachableMembers(t *testing.T) {
	kc := kubeconfig(t, "a", "b")
	code, stdout, stderr := runCLI(t, "status", "demo/web", "-o", "json", "--kubeconfig", kc, "--timeout", "2s")
	if code != exitOK {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	var status inspect.StatusReport
	if err := json.Unmarshal([]byte(stdout), &status); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, stdout)
	}
	if len(status.Services) != 1 || status.Services[0].String() != "demo/web" || len(status.Services[0].Clusters) != 2 ||
		status.Services[0].Clusters[0].Import.State != inspect.Unreachable {
		t.Errorf("status: %+v", status)
	}

	code, stdout, _ = runCLI(t, "--kubeconfig", kc, "members", "--contexts", "b")
	if code != exitOK || !strings.Contains(stdout, "b       unknown  unknown     no") || strings.Contains(stdout, "\na ") {
		t.Errorf("members: exit %d:\n%s", code, stdout)
	}

	code, stdout, stderr = runCLI(t, "check", "demo/web", "--kubeconfig", kc, "--dns", "a=127.0.0.1:5301,cluster-9=127.0.0.1:5302")
	if code != exitIncomplete || !strings.Contains(stdout, "2 could not be checked") {
		t.Errorf("check: exit %d:\n%s", code, stdout)
	}
	// cluster-9 may be an unread member's ID: a warning, not an error.
	if !strings.Contains(stderr, "--dns names cluster-9, which is no member (members: a, b), or an unreachable one") {
		t.Errorf("check: stderr %q, want a warning about cluster-9", stderr)
	}
}

func TestWantColour(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, tt := range []struct {
		terminal bool
		env      map[string]string
		want     bool
	}{
		{true, nil, true},
		{false, nil, false},
		{true, map[string]string{"NO_COLOR": "1"}, false},
		{true, map[string]string{"TERM": "dumb"}, false},
		{true, map[string]string{"TERM": "xterm-256color"}, true},
	} {
		if got := wantColour(tt.terminal, env(tt.env)); got != tt.want {
			t.Errorf("terminal %v, env %v: colour %v, want %v", tt.terminal, tt.env, got, tt.want)
		}
	}
	// A pipe is no terminal.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is taken for a terminal")
	}
}
