package clusterset_test

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clusterset/clusterset/build/coredns/coretest"
)

// Malformed Corefiles stop CoreDNS at startup, naming the plugin, the file position and the fault.
func TestCorefileErrorsAtStartup(t *testing.T) {
	tests := []struct {
		name, body string
		want       []string
	}{
		{"ttl out of range", "clusterset {\n ttl 4000\n}", []string{"plugin/clusterset", "Corefile:4", "ttl must be an integer in [0, 3600]"}},
		{"unknown option", "clusterset {\n kubecfg /x\n}", []string{"plugin/clusterset", "Corefile:4", `unknown property "kubecfg"`}},
		{"kubeconfig arity", "clusterset {\n kubeconfig\n}", []string{"plugin/clusterset", "Corefile:4", "Wrong argument count"}},
		{"missing kubeconfig file", "clusterset {\n kubeconfig /nonexistent/kubeconfig\n}", []string{"plugin/clusterset", "/nonexistent/kubeconfig"}},
		{"twice in a block", "clusterset\n clusterset", []string{"plugin/clusterset", "only be used once"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			corefile := "clusterset.local:0 {\n bind 127.0.0.1\n " + tc.body + "\n}\n"
			err := coretest.StartErr(corefile)
			if err == nil {
				t.Fatalf("CoreDNS started with\n%s", corefile)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// Before its informers sync (here: never, the apiserver does not exist) a real server waits for
// its startup timeout, then answers SERVFAIL in the zone, and the ready plugin reports not ready.
func TestServerNotReadyUntilSynced(t *testing.T) {
	readyAddr := freeAddr(t)
	corefile := `clusterset.local:0 {
  bind 127.0.0.1
  ready ` + readyAddr + `
  clusterset {
    kubeconfig ` + kubeconfigFor(t, "https://"+freeAddr(t)) + `
    startup_timeout 300ms
  }
}
`
	start := time.Now()
	srv := coretest.Start(t, corefile)
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("started after %s, before the startup timeout", waited)
	}
	for _, network := range []string{"udp", "tcp"} {
		addr := srv.UDP
		if network == "tcp" {
			addr = srv.TCP
		}
		resp := exchange(t, network, addr, "web.default.svc.clusterset.local.", dns.TypeA)
		if resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", network, dns.RcodeToString[resp.Rcode])
		}
	}
	res, err := http.Get("http://" + readyAddr + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK || !strings.Contains(string(body), "clusterset") {
		t.Errorf("/ready = %d %q, want not ready naming clusterset", res.StatusCode, body)
	}
}

func exchange(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := (&dns.Client{Net: network}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return resp
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func kubeconfigFor(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
