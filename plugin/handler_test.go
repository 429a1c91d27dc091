package clusterset

import (
	"context"
	"fmt"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// clusterset is a small clusterset: a dual-stack ClusterSetIP import with named and unnamed
// ports, a headless import with endpoints in two clusters (one dual-stack), headless imports
// without ready endpoints, and a slice that is not an MCS slice.
func clustersetObjects() []runtime.Object {
	pg := []discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432)}
	return []runtime.Object{
		clusterSetIP("default", "web", []string{"10.1.0.10", "fd00::10"},
			importPort("http", corev1.ProtocolTCP, 80),
			importPort("", corev1.ProtocolTCP, 8080),
			importPort("dns", corev1.ProtocolUDP, 53)),
		clusterSetIP("other", "web", []string{"10.2.0.10"}),
		headless("default", "db", importPort("pg", corev1.ProtocolTCP, 5432)),
		mcsSlice("default", "db-c1", "db", "cluster-1", discovery.AddressTypeIPv4, pg,
			ep(ready, "db-0", "10.0.1.1"),
			ep(unknown, "", "10.0.1.2"),
			ep(notReady, "db-2", "10.0.1.3")),
		mcsSlice("default", "db-c2", "db", "cluster-2", discovery.AddressTypeIPv4, pg, ep(ready, "db-0", "10.0.2.1")),
		mcsSlice("default", "db-c2-v6", "db", "cluster-2", discovery.AddressTypeIPv6, pg, ep(ready, "db-0", "fd00::2:1")),
		headless("default", "idle"),
		mcsSlice("default", "idle-c1", "idle", "cluster-1", discovery.AddressTypeIPv4, pg, ep(notReady, "", "10.0.3.1")),
		headless("default", "noslices"),
		// An ordinary slice of the derived Service, without the MCS label: never cached.
		&discovery.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "derived-db-abcde", Labels: map[string]string{discovery.LabelServiceName: "db"}},
			AddressType: discovery.AddressTypeIPv4,
			Endpoints:   []discovery.Endpoint{ep(ready, "", "10.9.9.9")},
		},
	}
}

const zone = "clusterset.local."

var soa = test.SOA("clusterset.local. 5 IN SOA ns.dns.clusterset.local. hostmaster.clusterset.local. 1 7200 1800 86400 5")

func TestServeDNS(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Next: test.NextHandler(dns.RcodeRefused, nil)}
	startPlugin(t, cs, clustersetObjects()...)

	tests := []test.Case{
		// ClusterSetIP: A and AAAA from spec.ips; other types NODATA.
		{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10")}},
		{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("web.default.svc.clusterset.local. 5 IN AAAA fd00::10")}},
		{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa}},
		// SRV at the service name: one record per port number, named or not.
		{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("web.default.svc.clusterset.local. 5 IN SRV 0 33 53 web.default.svc.clusterset.local."),
				test.SRV("web.default.svc.clusterset.local. 5 IN SRV 0 33 80 web.default.svc.clusterset.local."),
				test.SRV("web.default.svc.clusterset.local. 5 IN SRV 0 33 8080 web.default.svc.clusterset.local."),
			},
			Extra: []dns.RR{
				test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10"),
				test.AAAA("web.default.svc.clusterset.local. 5 IN AAAA fd00::10"),
			}},
		{Qname: "web.other.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}}, // no ports
		{Qname: "web.other.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.other.svc.clusterset.local. 5 IN A 10.2.0.10")}},
		{Qname: "web.other.svc.clusterset.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		// ClusterSetIP SRV for named ports, addresses in the additional section.
		{Qname: "_http._tcp.web.default.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp.web.default.svc.clusterset.local. 5 IN SRV 0 100 80 web.default.svc.clusterset.local.")},
			Extra: []dns.RR{
				test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10"),
				test.AAAA("web.default.svc.clusterset.local. 5 IN AAAA fd00::10"),
			}},
		{Qname: "_dns._udp.web.default.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_dns._udp.web.default.svc.clusterset.local. 5 IN SRV 0 100 53 web.default.svc.clusterset.local.")},
			Extra: []dns.RR{
				test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10"),
				test.AAAA("web.default.svc.clusterset.local. 5 IN AAAA fd00::10"),
			}},
		{Qname: "_http._tcp.web.default.svc.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "_http._udp.web.default.svc.clusterset.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "_tcp.web.default.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},
		{Qname: "x.web.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "cluster-1.web.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},

		// Headless: ready (and unknown) endpoints of every cluster; not ready and non-MCS slices left out.
		{Qname: "db.default.svc.clusterset.local.", Qtype: dns.TypeA, Answer: []dns.RR{
			test.A("db.default.svc.clusterset.local. 5 IN A 10.0.1.1"),
			test.A("db.default.svc.clusterset.local. 5 IN A 10.0.1.2"),
			test.A("db.default.svc.clusterset.local. 5 IN A 10.0.2.1"),
		}},
		{Qname: "db.default.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("db.default.svc.clusterset.local. 5 IN AAAA fd00::2:1")}},
		{Qname: "db.default.svc.clusterset.local.", Qtype: dns.TypeMX, Ns: []dns.RR{soa}},
		// Per-endpoint names: the hostname, or the dashed IP.
		{Qname: "db-0.cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("db-0.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.1")}},
		{Qname: "db-0.cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		{Qname: "10-0-1-2.cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("10-0-1-2.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.2")}},
		{Qname: "db-0.cluster-2.db.default.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN A 10.0.2.1")}},
		{Qname: "db-0.cluster-2.db.default.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN AAAA fd00::2:1")}},
		{Qname: "db-2.cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "10-0-1-1.cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "db-0.cluster-3.db.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		// <clusterid>.<svc> is reserved: it must not exist.
		{Qname: "cluster-1.db.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "cluster-2.db.default.svc.clusterset.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		// Headless SRV: one record per ready endpoint and named port, targets' addresses as extra.
		// (Sections are compared sorted by their text.)
		{Qname: "_pg._tcp.db.default.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("_pg._tcp.db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 10-0-1-2.cluster-1.db.default.svc.clusterset.local."),
				test.SRV("_pg._tcp.db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 db-0.cluster-1.db.default.svc.clusterset.local."),
				test.SRV("_pg._tcp.db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 db-0.cluster-2.db.default.svc.clusterset.local."),
			},
			Extra: []dns.RR{
				test.A("10-0-1-2.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.2"),
				test.A("db-0.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.1"),
				test.A("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN A 10.0.2.1"),
				test.AAAA("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN AAAA fd00::2:1"),
			}},
		// Headless SRV at the service name: one per endpoint name and port number (db-0.cluster-2
		// has an IPv4 and an IPv6 address: one target).
		{Qname: "db.default.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 10-0-1-2.cluster-1.db.default.svc.clusterset.local."),
				test.SRV("db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 db-0.cluster-1.db.default.svc.clusterset.local."),
				test.SRV("db.default.svc.clusterset.local. 5 IN SRV 0 33 5432 db-0.cluster-2.db.default.svc.clusterset.local."),
			},
			Extra: []dns.RR{
				test.A("10-0-1-2.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.2"),
				test.A("db-0.cluster-1.db.default.svc.clusterset.local. 5 IN A 10.0.1.1"),
				test.A("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN A 10.0.2.1"),
				test.AAAA("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN AAAA fd00::2:1"),
			}},
		// Headless without ready endpoints: NXDOMAIN, whatever the type.
		{Qname: "idle.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "_pg._tcp.idle.default.svc.clusterset.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "noslices.default.svc.clusterset.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},

		// Zone structure: NODATA for names that exist, NXDOMAIN for those that do not.
		{Qname: "clusterset.local.", Qtype: dns.TypeSOA, Answer: []dns.RR{soa}},
		// The NS record's glue is the address the query arrived on, like ns.dns.'s own answer.
		{Qname: "clusterset.local.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("clusterset.local. 5 IN NS ns.dns.clusterset.local.")},
			Extra:  []dns.RR{test.A("ns.dns.clusterset.local. 5 IN A 127.0.0.1")}},
		{Qname: "clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "svc.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "default.svc.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "other.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},
		{Qname: "missing.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "nope.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "web.default.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "pod.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "dns-version.clusterset.local.", Qtype: dns.TypeTXT,
			Answer: []dns.RR{test.TXT(`dns-version.clusterset.local. 5 IN TXT "1.0.0"`)}},
		{Qname: "dns-version.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		// The NS target answers with the address the query arrived on (127.0.0.1 in test.ResponseWriter).
		{Qname: "ns.dns.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("ns.dns.clusterset.local. 5 IN A 127.0.0.1")}},
		{Qname: "ns.dns.clusterset.local.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
		{Qname: "ns.dns.clusterset.local.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa}},
		{Qname: "dns.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},

		// Names match case-insensitively; records carry the lowercase owner name.
		{Qname: "WEB.Default.SVC.ClusterSet.LOCAL.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10")}},
		{Qname: "DB-0.Cluster-2.DB.default.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("db-0.cluster-2.db.default.svc.clusterset.local. 5 IN AAAA fd00::2:1")}},
		{Qname: "Cluster-1.DB.default.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	}
	runCases(t, cs, &test.ResponseWriter{}, tests)
}

// runCases runs each case through cs as a subtest, the query arriving through w; every answer
// must be authoritative.
func runCases(t *testing.T, cs *Clusterset, w dns.ResponseWriter, cases []test.Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			resp := serve(t, cs, tc.Msg(), w, dns.RcodeSuccess)
			tc.Authoritative = true
			if err := test.SortAndCheck(resp, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

// serve runs one query through cs and returns a deep copy of the response (test.SortAndCheck
// sorts in place, and responses share their records with the snapshot).
func serve(t *testing.T, cs *Clusterset, m *dns.Msg, w dns.ResponseWriter, wantCode int) *dns.Msg {
	t.Helper()
	rec := dnstest.NewRecorder(w)
	code, err := cs.ServeDNS(context.Background(), rec, m)
	if err != nil || code != wantCode {
		t.Fatalf("ServeDNS = %d, %v; want %d", code, err, wantCode)
	}
	if rec.Msg == nil {
		return nil
	}
	return rec.Msg.Copy()
}

func TestServeDNSOutsideZonesGoesToNext(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Next: test.NextHandler(dns.RcodeRefused, nil)}
	startPlugin(t, cs)
	for _, name := range []string{"example.org.", "cluster.local.", "local.", "xclusterset.local."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if resp := serve(t, cs, m, &test.ResponseWriter{}, dns.RcodeRefused); resp != nil {
			t.Errorf("%s: clusterset wrote a response: %v", name, resp)
		}
	}
}

func TestFallthrough(t *testing.T) {
	tests := []struct {
		name  string
		fall  fall.F
		qname string
		qtype uint16
		next  bool // handed to the next plugin
	}{
		{"nxdomain falls through", fall.Root, "nope.default.svc.clusterset.local.", dns.TypeA, true},
		{"nodata does not", fall.Root, "web.default.svc.clusterset.local.", dns.TypeMX, false},
		{"answer does not", fall.Root, "web.default.svc.clusterset.local.", dns.TypeA, false},
		{"reserved name falls through", fall.Root, "cluster-1.db.default.svc.clusterset.local.", dns.TypeA, true},
		{"zone not listed", fall.F{Zones: []string{"other.local."}}, "nope.default.svc.clusterset.local.", dns.TypeA, false},
		{"sub zone listed", fall.F{Zones: []string{"default.svc.clusterset.local."}}, "nope.default.svc.clusterset.local.", dns.TypeA, true},
		{"no fallthrough", fall.Zero, "nope.default.svc.clusterset.local.", dns.TypeA, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Fall: tc.fall, Next: test.NextHandler(dns.RcodeRefused, nil)}
			startPlugin(t, cs, clustersetObjects()...)
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, tc.qtype)
			want := dns.RcodeSuccess
			if tc.next {
				want = dns.RcodeRefused
			}
			resp := serve(t, cs, m, &test.ResponseWriter{}, want)
			if tc.next != (resp == nil) {
				t.Errorf("next plugin called = %t, response %v", resp == nil, resp)
			}
		})
	}
}

func TestNotReadyServesSERVFAIL(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	if cs.Ready() {
		t.Fatal("ready before any snapshot")
	}
	m := new(dns.Msg)
	m.SetQuestion("web.default.svc.clusterset.local.", dns.TypeA)
	// The server, not the plugin, writes the SERVFAIL for this return code.
	if resp := serve(t, cs, m, &test.ResponseWriter{}, dns.RcodeServerFailure); resp != nil {
		t.Errorf("wrote %v", resp)
	}
}

func TestTTL(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: 300}
	startPlugin(t, cs, clustersetObjects()...)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.default.svc.clusterset.local.", dns.TypeA}, {"_pg._tcp.db.default.svc.clusterset.local.", dns.TypeSRV}, {"nope.clusterset.local.", dns.TypeA}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		resp := serve(t, cs, m, &test.ResponseWriter{}, dns.RcodeSuccess)
		for _, rr := range append(append(resp.Answer, resp.Ns...), resp.Extra...) {
			if rr.Header().Ttl != 300 {
				t.Errorf("%s: TTL %d, want 300: %v", q.name, rr.Header().Ttl, rr)
			}
		}
		if len(resp.Answer)+len(resp.Ns) == 0 {
			t.Errorf("%s: empty response", q.name)
		}
	}
}

func TestMultipleZones(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone, "mcs.example."}, ttl: defaultTTL}
	startPlugin(t, cs, clustersetObjects()...)
	runCases(t, cs, &test.ResponseWriter{}, []test.Case{
		{Qname: "web.default.svc.mcs.example.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.default.svc.mcs.example. 5 IN A 10.1.0.10")}},
		{Qname: "web.default.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("web.default.svc.clusterset.local. 5 IN A 10.1.0.10")}},
		{Qname: "nope.mcs.example.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
			Ns: []dns.RR{test.SOA("mcs.example. 5 IN SOA ns.dns.mcs.example. hostmaster.mcs.example. 1 7200 1800 86400 5")}},
	})
}

// A headless answer too big for a UDP message is truncated by the server's ScrubWriter, as in
// a real CoreDNS; over TCP it is whole. Scrubbing must not damage the shared snapshot.
func TestTruncation(t *testing.T) {
	var eps []discovery.Endpoint
	for i := range 200 {
		eps = append(eps, ep(ready, "", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)))
	}
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	startPlugin(t, cs, headless("default", "big"),
		mcsSlice("default", "big-c1", "big", "cluster-1", discovery.AddressTypeIPv4, nil, eps...))

	query := func(tcp bool, bufsize uint16) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("big.default.svc.clusterset.local.", dns.TypeA)
		if bufsize > 0 {
			m.SetEdns0(bufsize, false)
		}
		rw := &test.ResponseWriter{TCP: tcp}
		return serve(t, cs, m, request.NewScrubWriter(m, rw), dns.RcodeSuccess)
	}
	tests := []struct {
		name      string
		tcp       bool
		bufsize   uint16
		truncated bool
	}{
		{"udp 512", false, 0, true},
		{"udp edns 1232", false, 1232, true},
		{"tcp", true, 0, false},
		{"udp edns 65000", false, 65000, false},
		{"udp 512 again", false, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := query(tc.tcp, tc.bufsize)
			if resp.Truncated != tc.truncated {
				t.Errorf("TC = %t, want %t", resp.Truncated, tc.truncated)
			}
			if tc.truncated == (len(resp.Answer) == 200) {
				t.Errorf("%d answers, truncated %t", len(resp.Answer), resp.Truncated)
			}
			if size := resp.Len(); !tc.tcp && tc.bufsize == 0 && size > 512 {
				t.Errorf("UDP response of %d bytes", size)
			}
		})
	}
}

// Imports at the edges of the rules: repeated and family-mixed spec.ips, a port without
// protocol (TCP, the APIs' default), an import without addresses, a namespace whose only import
// is headless without ready endpoints, IPv6 endpoints without hostname whose dashed form would
// start or end with a hyphen.
func TestServeDNSEdgeCases(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	startPlugin(t, cs,
		clusterSetIP("edge", "dup", []string{"10.1.0.20", "10.1.0.20", "::ffff:10.1.0.20"}, importPort("http", "", 80)),
		clusterSetIP("edge", "noips", nil, importPort("http", corev1.ProtocolTCP, 80)),
		headless("quiet", "empty", importPort("pg", corev1.ProtocolTCP, 5432)),
		mcsSlice("quiet", "empty-c1", "empty", "cluster-1", discovery.AddressTypeIPv4, nil, ep(notReady, "", "10.0.9.1")),
		headless("edge", "v6"),
		mcsSlice("edge", "v6-c1", "v6", "cluster-1", discovery.AddressTypeIPv6,
			[]discovery.EndpointPort{{Port: new(int32(7000))}}, // no name, no protocol
			ep(ready, "", "fd00::"), ep(ready, "", "::1")),
	)
	tests := []test.Case{
		// One record per address, however often spec.ips lists it.
		{Qname: "dup.edge.svc.clusterset.local.", Qtype: dns.TypeA,
			Answer: []dns.RR{test.A("dup.edge.svc.clusterset.local. 5 IN A 10.1.0.20")}},
		// A port without protocol is TCP.
		{Qname: "_http._tcp.dup.edge.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_http._tcp.dup.edge.svc.clusterset.local. 5 IN SRV 0 100 80 dup.edge.svc.clusterset.local.")},
			Extra:  []dns.RR{test.A("dup.edge.svc.clusterset.local. 5 IN A 10.1.0.20")}},
		{Qname: "dup.edge.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("dup.edge.svc.clusterset.local. 5 IN SRV 0 100 80 dup.edge.svc.clusterset.local.")},
			Extra:  []dns.RR{test.A("dup.edge.svc.clusterset.local. 5 IN A 10.1.0.20")}},
		// Without addresses the names exist, but no SRV record points at an address-less target.
		{Qname: "noips.edge.svc.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		{Qname: "noips.edge.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},
		{Qname: "_http._tcp.noips.edge.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},
		{Qname: "_tcp.noips.edge.svc.clusterset.local.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},
		{Qname: "_http._udp.noips.edge.svc.clusterset.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		// A namespace exists only while a name below it exists (RFC 8020).
		{Qname: "quiet.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "empty.quiet.svc.clusterset.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "edge.svc.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
		// Dashed IPv6 hostnames are valid labels: fd00:: -> fd00--0, ::1 -> 0--1.
		{Qname: "fd00--0.cluster-1.v6.edge.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("fd00--0.cluster-1.v6.edge.svc.clusterset.local. 5 IN AAAA fd00::")}},
		{Qname: "0--1.cluster-1.v6.edge.svc.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("0--1.cluster-1.v6.edge.svc.clusterset.local. 5 IN AAAA ::1")}},
		{Qname: "fd00--.cluster-1.v6.edge.svc.clusterset.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		// An unnamed slice port without protocol: SRV at the service name only.
		{Qname: "v6.edge.svc.clusterset.local.", Qtype: dns.TypeSRV,
			Answer: []dns.RR{
				test.SRV("v6.edge.svc.clusterset.local. 5 IN SRV 0 50 7000 0--1.cluster-1.v6.edge.svc.clusterset.local."),
				test.SRV("v6.edge.svc.clusterset.local. 5 IN SRV 0 50 7000 fd00--0.cluster-1.v6.edge.svc.clusterset.local."),
			},
			Extra: []dns.RR{
				test.AAAA("0--1.cluster-1.v6.edge.svc.clusterset.local. 5 IN AAAA ::1"),
				test.AAAA("fd00--0.cluster-1.v6.edge.svc.clusterset.local. 5 IN AAAA fd00::"),
			}},
		{Qname: "_tcp.v6.edge.svc.clusterset.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	}
	runCases(t, cs, &test.ResponseWriter{}, tests)
}

// Zone transfers are refused anywhere in the zone, before and after sync, as CoreDNS's kubernetes
// plugin refuses them; the server writes the REFUSED reply for this return code.
func TestZoneTransferRefused(t *testing.T) {
	synced := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Next: test.NextHandler(dns.RcodeSuccess, nil)}
	startPlugin(t, synced, clustersetObjects()...)
	unsynced := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Fall: fall.Root, Next: test.NextHandler(dns.RcodeSuccess, nil)}
	for _, cs := range []*Clusterset{synced, unsynced} {
		for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
			for _, name := range []string{"clusterset.local.", "web.default.svc.clusterset.local."} {
				m := new(dns.Msg)
				m.SetQuestion(name, qtype)
				if resp := serve(t, cs, m, &test.ResponseWriter{}, dns.RcodeRefused); resp != nil {
					t.Errorf("%s %s (ready %t): wrote %v", dns.TypeToString[qtype], name, cs.Ready(), resp)
				}
			}
		}
	}
}

// Before the first index, a name that falls through goes to the next plugin (as CoreDNS's
// kubernetes plugin does, which checks fallthrough first); the others get SERVFAIL.
func TestFallthroughBeforeSync(t *testing.T) {
	tests := []struct {
		name  string
		fall  fall.F
		qname string
		want  int // return code: RcodeRefused is the next plugin's
	}{
		{"falls through", fall.Root, "web.default.svc.clusterset.local.", dns.RcodeRefused},
		{"sub zone listed", fall.F{Zones: []string{"default.svc.clusterset.local."}}, "web.default.svc.clusterset.local.", dns.RcodeRefused},
		{"other sub zone", fall.F{Zones: []string{"other.svc.clusterset.local."}}, "web.default.svc.clusterset.local.", dns.RcodeServerFailure},
		{"no fallthrough", fall.Zero, "web.default.svc.clusterset.local.", dns.RcodeServerFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Fall: tc.fall, Next: test.NextHandler(dns.RcodeRefused, nil)}
			m := new(dns.Msg)
			m.SetQuestion(tc.qname, dns.TypeA)
			if resp := serve(t, cs, m, &test.ResponseWriter{}, tc.want); resp != nil {
				t.Errorf("wrote %v", resp)
			}
		})
	}
}

// Over IPv6 the NS glue and ns.dns. answer with the IPv6 address the query arrived on.
func TestNameserverAddressIPv6(t *testing.T) {
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL}
	startPlugin(t, cs)
	runCases(t, cs, &test.ResponseWriter6{}, []test.Case{
		{Qname: "clusterset.local.", Qtype: dns.TypeNS,
			Answer: []dns.RR{test.NS("clusterset.local. 5 IN NS ns.dns.clusterset.local.")},
			Extra:  []dns.RR{test.AAAA("ns.dns.clusterset.local. 5 IN AAAA ::1")}},
		{Qname: "ns.dns.clusterset.local.", Qtype: dns.TypeAAAA,
			Answer: []dns.RR{test.AAAA("ns.dns.clusterset.local. 5 IN AAAA ::1")}},
		{Qname: "ns.dns.clusterset.local.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},
	})
}
