package clusterset

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// snapshot is an immutable index of every name the plugin answers, with its records built in
// advance, so that answering is one map lookup. It is rebuilt as a whole and swapped atomically;
// nothing in it is ever modified after buildSnapshot returns, and every record slice has
// len == cap, so that a plugin appending to a response reallocates instead of writing into it.
type snapshot struct {
	names map[string]*node    // lowercase FQDN -> its records
	soa   map[string][]dns.RR // zone -> [SOA], the authority section of negative answers

	serial    uint32
	imports   int // ServiceImports indexed
	endpoints int // ready headless endpoint addresses indexed
}

// node is one existing name. A node with no records is an empty non-terminal, which answers
// NODATA for every type.
type node struct {
	a, aaaa, srv, txt, soa, ns []dns.RR
	srvExtra                   []dns.RR // the addresses of the SRV targets
	// nameserver marks ns.dns.<zone>, the NS target of the apex. It answers with the address the
	// query arrived on, which is the one address of this server that the client can reach.
	nameserver bool
}

// records returns the answer and additional sections for qtype.
func (n *node) records(qtype uint16) (answer, extra []dns.RR) {
	switch qtype {
	case dns.TypeA:
		return n.a, nil
	case dns.TypeAAAA:
		return n.aaaa, nil
	case dns.TypeSRV:
		return n.srv, n.srvExtra
	case dns.TypeTXT:
		return n.txt, nil
	case dns.TypeSOA:
		return n.soa, nil
	case dns.TypeNS:
		return n.ns, nil
	}
	return nil, nil
}

// buildSnapshot indexes svcs in every zone. serial becomes the SOA serial.
func buildSnapshot(zones []string, ttl, serial uint32, svcs []service) *snapshot {
	s := &snapshot{names: make(map[string]*node), soa: make(map[string][]dns.RR, len(zones)), serial: serial, imports: len(svcs)}
	for _, svc := range svcs {
		s.endpoints += len(svc.endpoints)
	}
	for _, zone := range zones {
		z := zoneBuilder{zone: zone, ttl: ttl, names: s.names}
		s.soa[zone] = z.addApex(serial)
		for i := range svcs {
			z.addService(&svcs[i])
		}
	}
	for _, n := range s.names {
		for _, rrs := range []*[]dns.RR{&n.a, &n.aaaa, &n.srv, &n.txt, &n.soa, &n.ns, &n.srvExtra} {
			*rrs = (*rrs)[:len(*rrs):len(*rrs)]
		}
	}
	return s
}

// zoneBuilder adds the names of one zone to an index.
type zoneBuilder struct {
	zone  string // lowercase, fully qualified
	ttl   uint32
	names map[string]*node
}

func (z *zoneBuilder) node(name string) *node {
	n := z.names[name]
	if n == nil {
		n = &node{}
		z.names[name] = n
	}
	return n
}

func (z *zoneBuilder) hdr(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: rrtype, Class: dns.ClassINET, Ttl: z.ttl}
}

// addApex adds the zone's metadata names and returns the SOA set.
func (z *zoneBuilder) addApex(serial uint32) []dns.RR {
	nsName := "ns.dns." + z.zone
	soa := []dns.RR{&dns.SOA{
		Hdr:     z.hdr(z.zone, dns.TypeSOA),
		Ns:      nsName,
		Mbox:    "hostmaster." + z.zone,
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  z.ttl,
	}}
	apex := z.node(z.zone)
	apex.soa = soa
	apex.ns = []dns.RR{&dns.NS{Hdr: z.hdr(z.zone, dns.TypeNS), Ns: nsName}}
	z.node("dns." + z.zone)
	z.node(nsName).nameserver = true
	version := "dns-version." + z.zone
	z.node(version).txt = []dns.RR{&dns.TXT{Hdr: z.hdr(version, dns.TypeTXT), Txt: []string{"1.0.0"}}}
	z.node("svc." + z.zone)
	return soa[:1:1]
}

func (z *zoneBuilder) addService(svc *service) {
	nsName := svc.namespace + ".svc." + z.zone
	svcName := svc.name + "." + nsName
	if !fits(svcName) {
		return
	}
	z.node(nsName)
	if svc.headless {
		z.addHeadless(svcName, svc.endpoints)
		return
	}
	n := z.node(svcName)
	z.addAddrs(n, svcName, svc.ips)
	if len(svc.ports) == 0 {
		return
	}
	extra := append(append([]dns.RR(nil), n.a...), n.aaaa...)
	for _, p := range svc.ports {
		owner := srvOwner(svcName, p)
		if !fits(owner) {
			continue
		}
		srv := z.srvNode(owner)
		srv.srv = append(srv.srv, &dns.SRV{Hdr: z.hdr(owner, dns.TypeSRV), Weight: 100, Port: p.port, Target: svcName})
		srv.srvExtra = extra
	}
}

// addHeadless adds the service name, one name per endpoint (<hostname>.<clusterid>.<svc>) and SRV
// records per endpoint and named port. Without ready endpoints the service name does not exist.
// <clusterid>.<svc> itself is reserved by the MCS DNS specification and never added.
func (z *zoneBuilder) addHeadless(svcName string, eps []endpoint) {
	if len(eps) == 0 {
		return
	}
	n := z.node(svcName)
	type srvKey struct {
		owner, target string
		port          uint16
	}
	seenAddr := make(map[netip.Addr]struct{}, len(eps))
	seenSRV := make(map[srvKey]struct{})
	var srvNodes []*node
	for _, ep := range eps {
		if _, dup := seenAddr[ep.addr]; !dup {
			seenAddr[ep.addr] = struct{}{}
			z.addAddrs(n, svcName, []netip.Addr{ep.addr})
		}
		target := ep.hostname + "." + ep.cluster + "." + svcName
		if ep.cluster == "" || !fits(target) {
			continue // no per-endpoint name, hence no SRV target either
		}
		z.addAddrs(z.node(target), target, []netip.Addr{ep.addr})
		for _, p := range ep.ports {
			owner := srvOwner(svcName, p)
			key := srvKey{owner, target, p.port}
			if _, dup := seenSRV[key]; dup || !fits(owner) {
				continue
			}
			seenSRV[key] = struct{}{}
			srv := z.srvNode(owner)
			if len(srv.srv) == 0 {
				srvNodes = append(srvNodes, srv)
			}
			srv.srv = append(srv.srv, &dns.SRV{Hdr: z.hdr(owner, dns.TypeSRV), Port: p.port, Target: target})
		}
	}
	// Weights and the additional section need every SRV record of a name. The targets' address
	// records are shared with the per-endpoint names rather than copied.
	for _, srv := range srvNodes {
		weight := uint16(max(1, 100/len(srv.srv)))
		added := make(map[string]struct{}, len(srv.srv))
		for _, rr := range srv.srv {
			rec := rr.(*dns.SRV)
			rec.Weight = weight
			if _, dup := added[rec.Target]; dup {
				continue
			}
			added[rec.Target] = struct{}{}
			tn := z.names[rec.Target]
			srv.srvExtra = append(append(srv.srvExtra, tn.a...), tn.aaaa...)
		}
	}
}

// fits reports whether a fully qualified name of plain labels (no escapes) is within the
// 255 octets a DNS name may have on the wire (one more than its text).
func fits(name string) bool { return len(name) < 255 }

// srvOwner is _<port>._<proto>.<svc>.
func srvOwner(svcName string, p port) string { return "_" + p.name + "._" + p.proto + "." + svcName }

// srvNode returns the node of an SRV owner name, adding its parent _<proto>.<svc> as an empty
// non-terminal.
func (z *zoneBuilder) srvNode(owner string) *node {
	z.node(owner[strings.IndexByte(owner, '.')+1:])
	return z.node(owner)
}

// addAddrs adds an A or AAAA record per address to n, whose name is owner.
func (z *zoneBuilder) addAddrs(n *node, owner string, addrs []netip.Addr) {
	for _, a := range addrs {
		if a.Is4() {
			n.a = append(n.a, &dns.A{Hdr: z.hdr(owner, dns.TypeA), A: a.AsSlice()})
		} else {
			n.aaaa = append(n.aaaa, &dns.AAAA{Hdr: z.hdr(owner, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
}
