package clusterset_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/build/coredns/coretest"
)

// listDelay is how long the proxy in front of the apiserver holds every request: each new
// instance's lists take at least this long.
const listDelay = 1500 * time.Millisecond

// TestReloadUnderLoad reloads CoreDNS 20 times under steady query load while every apiserver
// request of the plugin is delayed by 1.5 s, and counts answers and /ready samples: the first
// start and every reload must answer without a SERVFAIL and never report not ready. Half of the
// reloads change only another plugin, half change the clusterset TTL (then the new instance
// cannot reuse the old index as it is and waits for its own).
func TestReloadUnderLoad(t *testing.T) {
	cl, ctx, kube, mc := apiserver(t)
	must(t, create(ctx, mc.MulticlusterV1alpha1().ServiceImports(ns), &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       mcs.ServiceImportSpec{Type: mcs.ClusterSetIP, IPs: []string{"10.11.0.10"}, Ports: []mcs.ServicePort{}},
	}))
	must(t, create(ctx, mc.MulticlusterV1alpha1().ServiceImports(ns), &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: mcs.ServiceImportSpec{Type: mcs.Headless, Ports: []mcs.ServicePort{}},
	}))
	must(t, create(ctx, kube.DiscoveryV1().EndpointSlices(ns), mcsSlice("db", "cluster-1", endpoint("db-0", "10.0.1.1", true))))

	slow := slowProxy(t, cl.Config, listDelay)
	kubeconfig := kubeconfigFor(t, slow)
	readyAddr := freeAddr(t)
	corefile := func(ttl int, loadbalance bool) string {
		lb := ""
		if loadbalance {
			lb = "loadbalance\n  "
		}
		return fmt.Sprintf("clusterset.local:0 {\n  bind 127.0.0.1\n  ready %s\n  %sclusterset {\n    kubeconfig %s\n    ttl %d\n  }\n}\n", readyAddr, lb, kubeconfig, ttl)
	}

	start := time.Now()
	srv := coretest.Start(t, corefile(5, false))
	t.Logf("first start took %s (the lists take %s)", time.Since(start).Round(time.Millisecond), listDelay)

	var load loadCounts
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { load.queries(srv.UDP, stop) })
	}
	wg.Go(func() { load.ready(readyAddr, stop) })

	time.Sleep(500 * time.Millisecond)
	for i := range 20 {
		ttl := 5 + (i+1)/2%2 // 5 6 6 5 5 6 ...: every other reload changes the TTL
		began := time.Now()
		if err := srv.Reload(corefile(ttl, i%2 == 0)); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
		t.Logf("reload %d (ttl %d) took %s", i+1, ttl, time.Since(began).Round(time.Millisecond))
		time.Sleep(500 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	t.Logf("queries: %d NOERROR with the right answer, %d SERVFAIL, %d other, %d lost; /ready: %d OK, %d not ready, %d refused (longest run of refusals %s)",
		load.ok.Load(), load.servfail.Load(), load.other.Load(), load.lost.Load(), load.readyOK.Load(), load.notReady.Load(), load.refused.Load(),
		time.Duration(load.longestRefusal.Load()).Round(time.Millisecond))
	if load.servfail.Load() != 0 || load.other.Load() != 0 || load.lost.Load() != 0 {
		t.Errorf("%d SERVFAIL, %d other answers, %d lost queries across the reloads; want none", load.servfail.Load(), load.other.Load(), load.lost.Load())
	}
	if load.notReady.Load() != 0 {
		t.Errorf("/ready reported not ready %d times; want never", load.notReady.Load())
	}
	if load.ok.Load() < 1000 || load.readyOK.Load() < 100 {
		t.Errorf("only %d answers and %d /ready samples: the load did not run", load.ok.Load(), load.readyOK.Load())
	}
}

// loadCounts counts what the load saw.
type loadCounts struct {
	ok, servfail, other, lost  atomic.Int64
	readyOK, notReady, refused atomic.Int64
	longestRefusal             atomic.Int64 // nanoseconds from the first to the last of a run
}

// queries asks for web's A record over UDP until stop is closed.
func (l *loadCounts) queries(addr string, stop <-chan struct{}) {
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion("web."+ns+".svc.clusterset.local.", dns.TypeA)
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, _, err := c.Exchange(m, addr)
		switch {
		case err != nil:
			l.lost.Add(1)
		case resp.Rcode == dns.RcodeServerFailure:
			l.servfail.Add(1)
		case resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 1 && strings.HasSuffix(resp.Answer[0].String(), "10.11.0.10"):
			l.ok.Add(1)
		default:
			l.other.Add(1)
		}
	}
}

// ready samples /ready every 5 ms until stop is closed. A refused connection is counted apart:
// the stock ready plugin closes its listener while a reload sets up the new instance.
func (l *loadCounts) ready(addr string, stop <-chan struct{}) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var refusedSince time.Time
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		res, err := c.Get("http://" + addr + "/ready")
		if err != nil {
			l.refused.Add(1)
			if refusedSince.IsZero() {
				refusedSince = time.Now()
			}
			if d := int64(time.Since(refusedSince)); d > l.longestRefusal.Load() {
				l.longestRefusal.Store(d)
			}
			continue
		}
		refusedSince = time.Time{}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			l.readyOK.Add(1)
		} else {
			l.notReady.Add(1)
		}
	}
}

// slowProxy serves the apiserver of cfg on a plain-HTTP 127.0.0.1 address, holding every
// request for delay first, and returns its URL. It authenticates as cfg; the client's own
// credentials are dropped.
func slowProxy(t *testing.T, cfg *rest.Config, delay time.Duration) string {
	t.Helper()
	target, err := url.Parse(cfg.Host)
	must(t, err)
	rt, err := rest.TransportFor(cfg)
	must(t, err)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization")
		},
		Transport:     rt,
		FlushInterval: -1, // watches stream
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(delay):
			proxy.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return "http://" + l.Addr().String()
}
