package clusterset_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsbeta "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/build/coredns/coretest"
	"github.com/clusterset/clusterset/test/localenv"
)

const ns = "mcs-test"

// TestRealAPIServer runs the built CoreDNS chain against a real kube-apiserver: objects created
// through the API are answered over UDP and TCP, changes show up, big answers truncate on UDP,
// and the ready and prometheus plugins see the plugin.
func TestRealAPIServer(t *testing.T) {
	cl, ctx, kube, mc := apiserver(t)
	must(t, create(ctx, mc.MulticlusterV1alpha1().ServiceImports(ns), &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: mcs.ServiceImportSpec{Type: mcs.ClusterSetIP, IPs: []string{"10.11.0.10", "fd00:11::10"},
			Ports: []mcs.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}},
	}))
	// Written as v1beta1 (the storage version), read by the plugin as v1alpha1.
	must(t, create(ctx, mc.MulticlusterV1beta1().ServiceImports(ns), &mcsbeta.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: mcsbeta.ServiceImportSpec{Type: mcsbeta.Headless,
			Ports: []mcsbeta.ServicePort{{Name: "pg", Protocol: corev1.ProtocolTCP, Port: 5432}}},
	}))
	slices := kube.DiscoveryV1().EndpointSlices(ns)
	must(t, create(ctx, slices, mcsSlice("db", "cluster-1", endpoint("db-0", "10.0.1.1", true), endpoint("", "10.0.1.2", true), endpoint("db-2", "10.0.1.3", false))))
	must(t, create(ctx, slices, mcsSlice("db", "cluster-2", endpoint("db-0", "10.0.2.1", true))))

	readyAddr, metricsAddr := freeAddr(t), freeAddr(t)
	srv := coretest.Start(t, `clusterset.local:0 {
  bind 127.0.0.1
  ready `+readyAddr+`
  prometheus `+metricsAddr+`
  clusterset {
    kubeconfig `+cl.Kubeconfig+`
    ttl 7
  }
}
`)
	waitFor(t, "ready", func() bool { return httpGet(readyAddr+"/ready") == "OK" })

	type q struct {
		name  string
		qtype uint16
	}
	const db, web = "db.mcs-test.svc.clusterset.local.", "web.mcs-test.svc.clusterset.local."
	want := map[q]string{
		{web, dns.TypeA}:                        "NOERROR A 10.11.0.10",
		{web, dns.TypeAAAA}:                     "NOERROR AAAA fd00:11::10",
		{"_http._tcp." + web, dns.TypeSRV}:      "NOERROR SRV 0 100 80 " + web + " | A 10.11.0.10 AAAA fd00:11::10",
		{db, dns.TypeA}:                         "NOERROR A 10.0.1.1 A 10.0.1.2 A 10.0.2.1",
		{db, dns.TypeAAAA}:                      "NOERROR SOA",
		{"db-0.cluster-2." + db, dns.TypeA}:     "NOERROR A 10.0.2.1",
		{"10-0-1-2.cluster-1." + db, dns.TypeA}: "NOERROR A 10.0.1.2",
		{"db-2.cluster-1." + db, dns.TypeA}:     "NXDOMAIN SOA",
		{"cluster-1." + db, dns.TypeA}:          "NXDOMAIN SOA",
		{"_pg._tcp." + db, dns.TypeSRV}: "NOERROR SRV 0 33 5432 10-0-1-2.cluster-1." + db + " SRV 0 33 5432 db-0.cluster-1." + db +
			" SRV 0 33 5432 db-0.cluster-2." + db + " | A 10.0.1.1 A 10.0.1.2 A 10.0.2.1",
		{"mcs-test.svc.clusterset.local.", dns.TypeA}:  "NOERROR SOA",
		{"nope.svc.clusterset.local.", dns.TypeA}:      "NXDOMAIN SOA",
		{"dns-version.clusterset.local.", dns.TypeTXT}: `NOERROR TXT "1.0.0"`,
		{"clusterset.local.", dns.TypeSOA}:             "NOERROR SOA",
	}
	for _, network := range []string{"udp", "tcp"} {
		for query, w := range want {
			if got := summary(t, exchangeOn(t, srv, network, query.name, query.qtype, 0)); got != w {
				t.Errorf("%s %s %s:\n got  %s\n want %s", network, query.name, dns.TypeToString[query.qtype], got, w)
			}
		}
	}

	// Updates: an endpoint becomes ready, a cluster's slice goes, the import goes.
	c1, err := slices.Get(ctx, "db-cluster-1", metav1.GetOptions{})
	must(t, err)
	c1.Endpoints[2].Conditions.Ready = new(true)
	_, err = slices.Update(ctx, c1, metav1.UpdateOptions{})
	must(t, err)
	expect(t, srv, db, dns.TypeA, "NOERROR A 10.0.1.1 A 10.0.1.2 A 10.0.1.3 A 10.0.2.1")
	expect(t, srv, "db-2.cluster-1."+db, dns.TypeA, "NOERROR A 10.0.1.3")
	must(t, slices.Delete(ctx, "db-cluster-1", metav1.DeleteOptions{}))
	expect(t, srv, db, dns.TypeA, "NOERROR A 10.0.2.1")
	expect(t, srv, "db-0.cluster-1."+db, dns.TypeA, "NXDOMAIN SOA")
	must(t, mc.MulticlusterV1alpha1().ServiceImports(ns).Delete(ctx, "web", metav1.DeleteOptions{}))
	expect(t, srv, web, dns.TypeA, "NXDOMAIN SOA")

	// A big headless answer: truncated on UDP, whole over TCP.
	var many []discovery.Endpoint
	for i := range 300 {
		many = append(many, endpoint("", fmt.Sprintf("10.1.%d.%d", i/200, i%200+1), true))
	}
	must(t, create(ctx, mc.MulticlusterV1alpha1().ServiceImports(ns), &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: "big"}, Spec: mcs.ServiceImportSpec{Type: mcs.Headless, Ports: []mcs.ServicePort{}},
	}))
	must(t, create(ctx, slices, mcsSlice("big", "cluster-1", many...)))
	const big = "big.mcs-test.svc.clusterset.local."
	waitFor(t, "big answer over TCP", func() bool { return len(exchangeOn(t, srv, "tcp", big, dns.TypeA, 0).Answer) == 300 })
	for _, tc := range []struct {
		network   string
		bufsize   uint16
		truncated bool
	}{{"udp", 0, true}, {"udp", 1232, true}, {"tcp", 0, false}} {
		resp := exchangeOn(t, srv, tc.network, big, dns.TypeA, tc.bufsize)
		if resp.Truncated != tc.truncated || (len(resp.Answer) == 300) == tc.truncated {
			t.Errorf("%s bufsize %d: TC %t with %d answers", tc.network, tc.bufsize, resp.Truncated, len(resp.Answer))
		}
	}

	// Metrics: what the index holds now (db and big; web was deleted).
	metrics := httpGet(metricsAddr + "/metrics")
	const block = `{server="dns://127.0.0.1:0",zone="clusterset.local."}`
	for _, line := range []string{"coredns_clusterset_imports" + block + " 2", "coredns_clusterset_endpoints" + block + " 301",
		"coredns_clusterset_index_rebuild_duration_seconds_count", "coredns_clusterset_snapshot_age_seconds" + block} {
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// apiserver starts a localenv cluster with the namespace ns for an integration test, which it
// skips under -short, and returns clients of it and a context for the test's requests.
func apiserver(t *testing.T) (*localenv.Cluster, context.Context, kubernetes.Interface, mcsclient.Interface) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the control-plane binaries in bin/")
	}
	cl := localenv.StartT(t, localenv.Options{Clusters: 1}).Clusters[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	kube := kubernetes.NewForConfigOrDie(cl.Config)
	mc := mcsclient.NewForConfigOrDie(cl.Config)
	must(t, create(ctx, kube.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	return cl, ctx, kube, mc
}

func expect(t *testing.T, srv *coretest.Server, name string, qtype uint16, want string) {
	t.Helper()
	var got string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got = summary(t, exchangeOn(t, srv, "udp", name, qtype, 0))
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("%s %s: got %s, want %s", name, dns.TypeToString[qtype], got, want)
	}
}

func exchangeOn(t *testing.T, srv *coretest.Server, network, name string, qtype, bufsize uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if bufsize > 0 {
		m.SetEdns0(bufsize, false)
	}
	addr := srv.UDP
	if network == "tcp" {
		addr = srv.TCP
	}
	resp, _, err := (&dns.Client{Net: network, UDPSize: bufsize}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", network, name, err)
	}
	return resp
}

// summary renders a reply as "RCODE answers | additionals", each record as type and data, sorted,
// with the SOA's data left out (its serial changes with every rebuild).
func summary(t *testing.T, m *dns.Msg) string {
	t.Helper()
	render := func(rrs []dns.RR) []string {
		var out []string
		for _, rr := range rrs {
			if rr.Header().Rrtype == dns.TypeOPT {
				continue
			}
			if rr.Header().Ttl != 7 {
				t.Errorf("TTL %d, want 7: %v", rr.Header().Ttl, rr)
			}
			typ := dns.TypeToString[rr.Header().Rrtype]
			data := strings.TrimPrefix(rr.String(), rr.Header().String())
			if typ == "SOA" {
				data = ""
			}
			out = append(out, strings.TrimSpace(typ+" "+data))
		}
		slices.Sort(out)
		return out
	}
	parts := append([]string{dns.RcodeToString[m.Rcode]}, render(m.Answer)...)
	parts = append(parts, render(m.Ns)...)
	if extra := render(m.Extra); len(extra) > 0 {
		parts = append(append(parts, "|"), extra...)
	}
	return strings.Join(parts, " ")
}

func mcsSlice(svc, cluster string, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	name, proto, port := "pg", corev1.ProtocolTCP, int32(5432)
	return &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: svc + "-" + cluster, Labels: map[string]string{
			mcs.LabelServiceName:       svc,
			mcs.LabelSourceCluster:     cluster,
			discovery.LabelServiceName: "derived-" + svc,
			discovery.LabelManagedBy:   "clusterset-test",
		}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
		Endpoints:   eps,
	}
}

func endpoint(hostname, ip string, ready bool) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}, Conditions: discovery.EndpointConditions{Ready: &ready}}
	if hostname != "" {
		e.Hostname = &hostname
	}
	return e
}

type creator[T any] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
}

func create[T any](ctx context.Context, c creator[T], obj T) error {
	_, err := c.Create(ctx, obj, metav1.CreateOptions{})
	return err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, time.Minute, true,
		func(context.Context) (bool, error) { return cond(), nil }); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func httpGet(url string) string {
	res, err := http.Get("http://" + url)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body)
}
