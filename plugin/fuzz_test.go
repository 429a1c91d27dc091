package clusterset

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// FuzzQueryName sends arbitrary question names and types through ServeDNS: it must never panic,
// and every reply must be a well-formed, packable, authoritative answer or a hand-off.
func FuzzQueryName(f *testing.F) {
	for _, seed := range []string{
		"web.default.svc.clusterset.local.", "_pg._tcp.db.default.svc.clusterset.local.",
		"db-0.cluster-2.db.default.svc.clusterset.local.", "cluster-1.db.default.svc.clusterset.local.",
		"clusterset.local.", "clusterset.local", "CLUSTERSET.LOCAL.", "ns.dns.clusterset.local.", "", ".", "..",
		"a..clusterset.local.", `\046.clusterset.local.`, `web\.default.svc.clusterset.local.`,
		"x." + strings.Repeat("a", 300) + ".clusterset.local.", "example.org.", "\x00\xff.clusterset.local.",
	} {
		f.Add(seed, dns.TypeA)
		f.Add(seed, dns.TypeSRV)
	}
	cs := &Clusterset{Zones: []string{zone}, ttl: defaultTTL, Next: test.NextHandler(dns.RcodeRefused, nil)}
	cs.update(changes(clustersetObjects()...))

	f.Fuzz(func(t *testing.T, name string, qtype uint16) {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		code, err := cs.ServeDNS(context.Background(), rec, m)
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		if code == dns.RcodeRefused { // handed to the next plugin
			if rec.Msg != nil {
				t.Fatal("wrote a reply and handed the query on")
			}
			return
		}
		resp := rec.Msg
		if code != dns.RcodeSuccess || resp == nil {
			t.Fatalf("code %d, reply %v", code, resp)
		}
		if !resp.Authoritative || (resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError) {
			t.Fatalf("reply %v", resp)
		}
		if len(resp.Answer) == 0 && (len(resp.Ns) != 1 || resp.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Fatalf("negative reply without SOA: %v", resp)
		}
		for _, rr := range resp.Answer {
			if !strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) || (rr.Header().Rrtype != qtype && qtype != dns.TypeANY) {
				t.Fatalf("answer %v does not match question %q type %d", rr, name, qtype)
			}
		}
		if _, ok := dns.IsDomainName(name); !ok {
			return // a server never receives it: such a question does not unpack
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v\n%v", err, resp)
		}
	})
}

// FuzzIndexNames builds an index from arbitrary object names, labels, hostnames, ports and
// addresses: every name in it must be a valid lowercase name in the zone whose records pack.
func FuzzIndexNames(f *testing.F) {
	f.Add("default", "db", "cluster-1", "db-0", "pg", "10.0.0.1", "fd00::1", true)
	f.Add("Default", "db.x", "Cluster_1", "a.b", "PG", "10.0.0.01", "fe80::1%eth0", false)
	f.Add("", "", "", "", "", "", "", true)
	f.Add(strings.Repeat("n", 63), strings.Repeat("s", 63), strings.Repeat("c", 63), strings.Repeat("h", 63), "p", "1.2.3.4", "::", true)
	f.Fuzz(func(t *testing.T, ns, name, cluster, hostname, portName, ip4, ip6 string, isHeadless bool) {
		objs := []runtime.Object{clusterSetIP(ns, name, []string{ip4, ip6}, importPort(portName, corev1.ProtocolTCP, 80))}
		if isHeadless {
			objs[0] = headless(ns, name)
		}
		ports := []discovery.EndpointPort{slicePort(portName, corev1.ProtocolUDP, 53)}
		objs = append(objs,
			mcsSlice(ns, "a", name, cluster, discovery.AddressTypeIPv4, ports, ep(ready, hostname, ip4), ep(unknown, "", ip4)),
			mcsSlice(ns, "b", name, cluster, discovery.AddressTypeIPv6, ports, ep(ready, hostname, ip6)))
		snap := (*snapshot)(nil).update([]string{zone}, defaultTTL, 1, changes(objs...))
		for key, imp := range allImports(snap) {
			for _, nn := range allNames(imp.names[0]) {
				owner := nn.prefix + key + ".svc." + zone
				if _, ok := dns.IsDomainName(owner); !ok || owner != strings.ToLower(owner) || !fits(owner) {
					t.Fatalf("bad name %q in the index", owner)
				}
				if got := snap.lookup(0, owner[:len(owner)-len(zone)], dns.TypeSRV); got == nil {
					t.Fatalf("%q is indexed but not found", owner)
				}
				m := new(dns.Msg)
				m.SetQuestion(owner, dns.TypeANY)
				for _, set := range nn.node.sets {
					for _, rr := range set.rrs {
						if !strings.EqualFold(rr.Header().Name, owner) {
							t.Fatalf("record %v under %q", rr, owner)
						}
					}
					m.Answer = append(m.Answer, set.rrs...)
				}
				m.Extra = nn.node.extra
				if _, err := m.Pack(); err != nil {
					t.Fatalf("records of %q do not pack: %v", owner, err)
				}
			}
		}
	})
}

func allImports(s *snapshot) map[string]*indexedImport {
	all := map[string]*indexedImport{}
	for _, shard := range s.shards {
		maps.Copy(all, shard)
	}
	return all
}

// allNames returns every name of n, building its SRV names.
func allNames(n *importNames) []namedNode {
	if n == nil {
		return nil
	}
	srv := n.srvNames()
	all := append([]namedNode{{node: srv.service}}, srv.names...)
	for i := range n.endpoints {
		e := &n.endpoints[i]
		all = append(all, namedNode{prefix: e.hostname + "." + e.cluster + ".", node: *n.endpointNode(i)})
	}
	return all
}
