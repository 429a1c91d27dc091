package gather

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig with one context per server (context name -> URL).
func writeKubeconfig(t *testing.T, path string, servers map[string]string, current string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for name, url := range servers {
		cfg.Clusters[name] = &clientcmdapi.Cluster{Server: url}
		cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "t"}
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	}
	cfg.CurrentContext = current
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func names(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestFromKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	writeKubeconfig(t, path, map[string]string{"b": "https://127.0.0.1:2", "a": "https://127.0.0.1:1", "c": "https://127.0.0.1:3"}, "a")

	all, err := FromKubeconfig(path, nil)
	if err != nil || !slices.Equal(names(all), []string{"a", "b", "c"}) {
		t.Fatalf("all contexts: %v, %v; want a, b, c", names(all), err)
	}
	if all[1].Config == nil || all[1].Config.Host != "https://127.0.0.1:2" {
		t.Errorf("context b reaches %+v, want https://127.0.0.1:2", all[1].Config)
	}
	some, err := FromKubeconfig(path, []string{"c", "a", "c"})
	if err != nil || !slices.Equal(names(some), []string{"c", "a"}) {
		t.Errorf("contexts c,a,c: %v, %v; want c, a in the order given, once each", names(some), err)
	}
	if _, err := FromKubeconfig(path, []string{"x"}); err == nil || !strings.Contains(err.Error(), `context "x" is not in the kubeconfig`) || !strings.Contains(err.Error(), "a, b, c") {
		t.Errorf("unknown context: %v, want an error naming it and the contexts there are", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	writeKubeconfig(t, empty, nil, "")
	if _, err := FromKubeconfig(empty, nil); err == nil || !strings.Contains(err.Error(), "has no contexts") {
		t.Errorf("empty kubeconfig: %v, want an error", err)
	}
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	writeKubeconfig(t, filepath.Join(dir, "member-b"), map[string]string{"x": "https://127.0.0.1:2"}, "x")
	writeKubeconfig(t, filepath.Join(dir, "member-a"), map[string]string{"y": "https://127.0.0.1:1"}, "y")
	writeKubeconfig(t, filepath.Join(dir, "no-current"), map[string]string{"z": "https://127.0.0.1:3"}, "")
	if err := os.WriteFile(filepath.Join(dir, "broken"), []byte("{not yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "..data"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeKubeconfig(t, filepath.Join(dir, ".hidden"), map[string]string{"h": "https://127.0.0.1:4"}, "h")

	ms, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(ms); !slices.Equal(got, []string{"broken", "member-a", "member-b", "no-current"}) {
		t.Fatalf("members %v, want the regular visible files in name order", got)
	}
	if ms[1].Config == nil || ms[1].Config.Host != "https://127.0.0.1:1" {
		t.Errorf("member-a reaches %+v through its current context", ms[1].Config)
	}
	for _, i := range []int{0, 3} {
		if ms[i].Config != nil || !strings.HasPrefix(ms[i].Err, "unusable kubeconfig") {
			t.Errorf("%s: config %v, err %q; want unusable", ms[i].Name, ms[i].Config, ms[i].Err)
		}
	}
	if _, err := FromDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no kubeconfig files") {
		t.Errorf("empty dir: %v, want an error", err)
	}
}

// A member that accepts connections and never answers is unreachable after one timeout: its
// first call fails and nothing more is asked of it.
func TestReadUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		var held []net.Conn // never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			held = append(held, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	path := filepath.Join(t.TempDir(), "config")
	writeKubeconfig(t, path, map[string]string{"silent": "https://" + ln.Addr().String()}, "silent")
	ms, err := FromKubeconfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms = append(ms, Member{Name: "bad", Err: "unusable kubeconfig: no current context"})
	snaps := Read(context.Background(), ms, Options{Timeout: 300 * time.Millisecond, SyncerNamespace: "clusterset-system", SyncerDeployment: "clusterset-syncer"})
	if want := "no answer from https://" + ln.Addr().String() + " within 300ms"; snaps[0].Unreachable != want {
		t.Errorf("unreachable %q, want %q", snaps[0].Unreachable, want)
	}
	if n := accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1: nothing more is asked after the first call failed", n)
	}
	if snaps[1].Unreachable != "unusable kubeconfig: no current context" {
		t.Errorf("unusable member: %q", snaps[1].Unreachable)
	}
}

// A member whose apiserver refuses every read is reachable, with each refusal noted.
func TestReadForbidden(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","code":403,"message":"forbidden"}`))
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "config")
	writeKubeconfig(t, path, map[string]string{"strict": srv.URL}, "strict")
	ms, err := FromKubeconfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := Read(context.Background(), ms, Options{Timeout: 5 * time.Second, SyncerNamespace: "ns", SyncerDeployment: "d", KubeDNS: true})[0]
	if !s.Reachable() {
		t.Fatalf("unreachable: %s", s.Unreachable)
	}
	// ClusterProperties, namespaces, exports, imports, derived Services, slices, Lease,
	// Deployment, kube-dns.
	if len(s.Errors) != 9 || !strings.HasPrefix(s.Errors[1], "reading the namespaces: forbidden") {
		t.Errorf("errors %q, want one per read", s.Errors)
	}
	if s.Namespaces != nil {
		t.Errorf("namespaces %v, want unknown (nil)", s.Namespaces)
	}
}

func TestResolve(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		switch {
		case q.Question[0].Name != "web.demo.svc.clusterset.local.":
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			rr, _ := dns.NewRR("web.demo.svc.clusterset.local. 5 IN A 10.1.0.5")
			m.Answer = append(m.Answer, rr)
		case q.Question[0].Qtype == dns.TypeAAAA:
			rr, _ := dns.NewRR("web.demo.svc.clusterset.local. 5 IN AAAA fd00::5")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	// A bound socket that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })

	live, dead := pc.LocalAddr().String(), silent.LocalAddr().String()
	replies := Resolve([]Query{
		{live, "web.demo.svc.clusterset.local."}, {dead, "web.demo.svc.clusterset.local."},
		{live, "db.demo.svc.clusterset.local."}, {dead, "db.demo.svc.clusterset.local."},
	}, 300*time.Millisecond)
	if a := replies[0].Answer; replies[0].Err != nil || a.Rcode != "NOERROR" || !slices.Equal(a.Addresses, []string{"10.1.0.5", "fd00::5"}) {
		t.Errorf("web: %+v, %v; want NOERROR 10.1.0.5, fd00::5", a, replies[0].Err)
	}
	if a := replies[2].Answer; replies[2].Err != nil || a.Rcode != "NXDOMAIN" || len(a.Addresses) != 0 {
		t.Errorf("db: %+v, %v; want NXDOMAIN", a, replies[2].Err)
	}
	if replies[1].Err == nil || replies[3].Err != replies[1].Err {
		t.Errorf("dead server: %v then %v; want one timeout, reused", replies[1].Err, replies[3].Err)
	}
}
