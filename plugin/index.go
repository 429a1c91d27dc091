package clusterset

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// snapshot is an immutable index of every name the plugin answers, with the records built in
// advance. A change produces a new snapshot (see update) that shares with the previous one every
// shard it did not touch; nothing reachable from a published snapshot is ever modified. Record
// slices have len == cap, so a plugin appending to a response reallocates instead of writing
// into the index.
type snapshot struct {
	zones      []*zoneIndex          // in the order of Clusterset.Zones
	shards     [shardCount]importMap // the imports, by shardOf their key
	namespaces []map[string]int      // by zone: namespace -> number of imports with names in it
	imports    int
	endpoints  int // ready endpoint addresses of the headless imports
	serial     uint32
}

// Sharding bounds what an update copies: the touched shards, not a map of every import.
const shardCount = 64

// importMap holds the indexed imports of one shard by "<svc>.<ns>".
type importMap map[string]*indexedImport

// indexedImport is one import: its names in every zone (nil in a zone where it has none, e.g. a
// headless import without ready endpoints), and its ready headless endpoints.
type indexedImport struct {
	names     [][]namedNode // by zone; see buildService
	endpoints int
}

// shardOf is FNV-1a of key, folded to a shard.
func shardOf(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % shardCount)
}

// zoneIndex holds the fixed names of one zone.
type zoneIndex struct {
	zone       string           // lowercase, fully qualified
	nameserver string           // ns.dns.<zone>, the target of the apex NS record
	soa        []dns.RR         // [SOA], the authority section of negative answers
	fixed      map[string]*node // the apex (""), dns., ns.dns., dns-version. and svc.
}

// namedNode is one name of a service: the service name itself (prefix ""), an SRV name or its
// parent (_http._tcp., _tcp.), or a per-endpoint name (db-0.cluster-1.).
type namedNode struct {
	prefix string // the labels before <svc>.<ns>.svc.<zone>, with the trailing dot
	node   node
}

// node is one existing name. A node without records is an empty non-terminal: NODATA for all.
type node struct {
	sets  []rrset
	extra []dns.RR // the additional section of the SRV set: the targets' addresses
	// nameserver marks ns.dns.<zone>, the NS target of the apex. It answers with the address the
	// query arrived on, which is the one address of this server that the client can reach.
	nameserver bool
	apex       bool // the zone's apex, whose NS answer carries that address as glue
}

type rrset struct {
	qtype uint16
	rrs   []dns.RR
}

// emptyNonTerminal stands for <ns>.svc.<zone> of a namespace with imports.
var emptyNonTerminal = &node{}

// records returns the answer and additional sections for qtype.
func (n *node) records(qtype uint16) (answer, extra []dns.RR) {
	for _, s := range n.sets {
		if s.qtype == qtype {
			if qtype == dns.TypeSRV {
				return s.rrs, n.extra
			}
			return s.rrs, nil
		}
	}
	return nil, nil
}

// lookup returns the node of rel in zone i, or nil if it does not exist. rel is the name
// relative to the zone, with its trailing dot ("web.default.svc."). It parses rel as
// [<prefix>]<svc>.<ns>.svc. without allocating. Labels with escaped dots never match, because
// no indexed name contains a backslash.
func (s *snapshot) lookup(i int, rel string) *node {
	if n, ok := s.zones[i].fixed[rel]; ok {
		return n
	}
	head, ok := strings.CutSuffix(rel, ".svc.")
	if !ok {
		return nil
	}
	nsDot := strings.LastIndexByte(head, '.')
	if nsDot < 0 { // <ns>.svc. exists while a name below it does (RFC 8020)
		if s.namespaces[i][head] > 0 {
			return emptyNonTerminal
		}
		return nil
	}
	svcDot := strings.LastIndexByte(head[:nsDot], '.') // -1 when there is no prefix
	key := head[svcDot+1:]
	imp := s.shards[shardOf(key)][key]
	if imp == nil {
		return nil
	}
	names := imp.names[i]
	j, found := slices.BinarySearchFunc(names, head[:svcDot+1], func(n namedNode, prefix string) int {
		return strings.Compare(n.prefix, prefix)
	})
	if !found {
		return nil
	}
	return &names[j].node
}

// update returns a new snapshot in which the imports of changed ("<svc>.<ns>" -> service, or
// nil for a removed import) replace those of s. s may be nil (the first snapshot).
func (s *snapshot) update(zones []string, ttl, serial uint32, changed map[string]*service) *snapshot {
	next := &snapshot{serial: serial}
	if s != nil {
		next.shards, next.imports, next.endpoints = s.shards, s.imports, s.endpoints
	}
	for i, zone := range zones {
		next.zones = append(next.zones, apex(zone, ttl, serial))
		if s != nil {
			next.namespaces = append(next.namespaces, maps.Clone(s.namespaces[i]))
		} else {
			next.namespaces = append(next.namespaces, map[string]int{})
		}
	}
	copied := map[int]bool{}
	for key, svc := range changed {
		si := shardOf(key)
		if !copied[si] {
			next.shards[si], copied[si] = maps.Clone(next.shards[si]), true
			if next.shards[si] == nil {
				next.shards[si] = importMap{}
			}
		}
		shard := next.shards[si]
		ns := key[strings.IndexByte(key, '.')+1:]
		if old, ok := shard[key]; ok {
			delete(shard, key)
			next.imports--
			next.endpoints -= old.endpoints
			next.countNamespace(old, ns, -1)
		}
		if svc == nil {
			continue
		}
		imp := &indexedImport{endpoints: len(svc.endpoints)}
		for _, zone := range zones {
			imp.names = append(imp.names, buildService(zone, ttl, svc))
		}
		shard[key] = imp
		next.imports++
		next.endpoints += imp.endpoints
		next.countNamespace(imp, ns, 1)
	}
	return next
}

// countNamespace adds delta to the count of ns in every zone where imp has names.
func (s *snapshot) countNamespace(imp *indexedImport, ns string, delta int) {
	for i, names := range imp.names {
		if len(names) == 0 {
			continue
		}
		if s.namespaces[i][ns] += delta; s.namespaces[i][ns] == 0 {
			delete(s.namespaces[i], ns)
		}
	}
}

// apex builds the zone's fixed names.
func apex(zone string, ttl, serial uint32) *zoneIndex {
	nsName := "ns.dns." + zone
	soa := []dns.RR{&dns.SOA{
		Hdr:     hdr(zone, dns.TypeSOA, ttl),
		Ns:      nsName,
		Mbox:    "hostmaster." + zone,
		Serial:  serial,
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}}
	version := "dns-version." + zone
	return &zoneIndex{zone: zone, nameserver: nsName, soa: soa, fixed: map[string]*node{
		"": {apex: true, sets: []rrset{
			{dns.TypeSOA, soa},
			{dns.TypeNS, []dns.RR{&dns.NS{Hdr: hdr(zone, dns.TypeNS, ttl), Ns: nsName}}},
		}},
		"dns.":         {},
		"ns.dns.":      {nameserver: true},
		"dns-version.": {sets: []rrset{{dns.TypeTXT, []dns.RR{&dns.TXT{Hdr: hdr(version, dns.TypeTXT, ttl), Txt: []string{"1.0.0"}}}}}},
		"svc.":         {},
	}}
}

func hdr(owner string, rrtype uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

// exact returns s in a new array of its length (nil if empty), so len == cap.
func exact[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return append(make(S, 0, len(s)), s...)
}

// fits reports whether a fully qualified name of plain labels (no escapes) is within the
// 255 octets a DNS name may have on the wire (one more than its text).
func fits(name string) bool { return len(name) < 255 }

// serviceBuilder collects the names of one service in one zone.
type serviceBuilder struct {
	svcName string // <svc>.<ns>.svc.<zone>
	ttl     uint32
	names   map[string]*node // by prefix
}

func (b *serviceBuilder) node(prefix string) *node {
	n := b.names[prefix]
	if n == nil {
		n = &node{}
		b.names[prefix] = n
	}
	return n
}

// add appends rr to the set of its type.
func (n *node) add(rr dns.RR) {
	t := rr.Header().Rrtype
	for i := range n.sets {
		if n.sets[i].qtype == t {
			n.sets[i].rrs = append(n.sets[i].rrs, rr)
			return
		}
	}
	n.sets = append(n.sets, rrset{t, []dns.RR{rr}})
}

func (b *serviceBuilder) addAddr(n *node, owner string, a netip.Addr) {
	if a.Is4() {
		n.add(&dns.A{Hdr: hdr(owner, dns.TypeA, b.ttl), A: a.AsSlice()})
	} else {
		n.add(&dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, b.ttl), AAAA: a.AsSlice()})
	}
}

// srvNode returns the node of _<port>._<proto>. of a named port, adding its parent _<proto>. as
// an empty non-terminal, or nil for an unnamed port or a name that would be too long.
func (b *serviceBuilder) srvNode(p port) (*node, string) {
	if p.name == "" {
		return nil, ""
	}
	prefix := "_" + p.name + "._" + p.proto + "."
	owner := prefix + b.svcName
	if !fits(owner) {
		return nil, ""
	}
	b.node(prefix[len(p.name)+2:])
	return b.node(prefix), owner
}

// srvWeight is the weight of each of n SRV records of one name: equal shares of 100, as CoreDNS's
// kubernetes plugin gives them.
func srvWeight(n int) uint16 { return uint16(max(1, 100/n)) } // #nosec G115 -- at most 100

// buildService returns the names of svc in zone, sorted by prefix. For a ClusterSetIP import:
// the service name (A/AAAA of spec.ips, SRV per port) and one SRV name per named port. For a
// headless import with ready endpoints: the service name (every ready address, SRV per endpoint
// and port), one name per endpoint (<hostname>.<clusterid>.) and SRV names per named port.
// Without ready endpoints a headless import has no names. <clusterid>.<svc> is reserved by the
// MCS DNS specification and never added.
func buildService(zone string, ttl uint32, svc *service) []namedNode {
	b := &serviceBuilder{svcName: svc.name + "." + svc.namespace + ".svc." + zone, ttl: ttl, names: map[string]*node{}}
	if !fits(b.svcName) || (svc.headless && len(svc.endpoints) == 0) {
		return nil
	}
	n := b.node("")
	if svc.headless {
		b.addHeadless(n, svc.endpoints)
	} else {
		b.addClusterSetIP(n, svc)
	}
	names := make([]namedNode, 0, len(b.names))
	for prefix, n := range b.names {
		// Exact-size copies: append left spare capacity, which the index would keep for long.
		for i := range n.sets {
			n.sets[i].rrs = exact(n.sets[i].rrs)
		}
		n.sets, n.extra = exact(n.sets), exact(n.extra)
		names = append(names, namedNode{prefix: prefix, node: *n})
	}
	slices.SortFunc(names, func(a, b namedNode) int { return strings.Compare(a.prefix, b.prefix) })
	return names
}

// addClusterSetIP gives the service name n the addresses of spec.ips, and SRV records that target
// it with those addresses as additional records: at n one per port number (a TCP and a UDP port
// of one number give one record, as in CoreDNS's kubernetes plugin), at _<port>._<proto> one per
// named port. Without addresses the SRV names exist but have no records, since a target without
// addresses would be no answer.
func (b *serviceBuilder) addClusterSetIP(n *node, svc *service) {
	for _, a := range svc.ips {
		b.addAddr(n, b.svcName, a)
	}
	var addrs, atService []dns.RR
	for _, s := range n.sets {
		addrs = append(addrs, s.rrs...)
	}
	for _, p := range svc.ports {
		srv, owner := b.srvNode(p)
		if len(addrs) == 0 {
			continue
		}
		if srv != nil {
			srv.add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV, b.ttl), Weight: 100, Port: p.port, Target: b.svcName})
			srv.extra = addrs
		}
		if !slices.ContainsFunc(atService, func(rr dns.RR) bool { return rr.(*dns.SRV).Port == p.port }) {
			atService = append(atService, &dns.SRV{Hdr: hdr(b.svcName, dns.TypeSRV, b.ttl), Port: p.port, Target: b.svcName})
		}
	}
	for _, rr := range atService {
		rr.(*dns.SRV).Weight = srvWeight(len(atService))
		n.add(rr)
	}
	if len(atService) > 0 {
		n.extra = addrs
	}
}

// addHeadless gives the service name n every ready address, each endpoint with a cluster ID its
// own name, and SRV records that target the endpoints' names: at n one per endpoint and port
// number, at _<port>._<proto> one per endpoint and named port.
func (b *serviceBuilder) addHeadless(n *node, eps []endpoint) {
	type srvKey struct {
		owner, target string
		port          uint16
	}
	seenAddr := make(map[netip.Addr]struct{}, len(eps))
	seenSRV := make(map[srvKey]struct{})
	var srvNodes []*node
	addSRV := func(srv *node, owner, target string, port uint16) {
		key := srvKey{owner, target, port}
		if _, dup := seenSRV[key]; dup {
			return
		}
		seenSRV[key] = struct{}{}
		if rrs, _ := srv.records(dns.TypeSRV); rrs == nil {
			srvNodes = append(srvNodes, srv)
		}
		srv.add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV, b.ttl), Port: port, Target: target})
	}
	for _, ep := range eps {
		if _, dup := seenAddr[ep.addr]; !dup {
			seenAddr[ep.addr] = struct{}{}
			b.addAddr(n, b.svcName, ep.addr)
		}
		prefix := ep.hostname + "." + ep.cluster + "."
		target := prefix + b.svcName
		if ep.cluster == "" || !fits(target) {
			continue // no per-endpoint name, hence no SRV target either
		}
		prefix = target[:len(prefix)] // share the owner name's bytes
		b.addAddr(b.node(prefix), target, ep.addr)
		for _, p := range ep.ports {
			addSRV(n, b.svcName, target, p.port)
			if srv, owner := b.srvNode(p); srv != nil {
				addSRV(srv, owner, target, p.port)
			}
		}
	}
	// Weights and the additional section need every SRV record of a name. The targets' address
	// records are shared with the per-endpoint names rather than copied.
	for _, srv := range srvNodes {
		rrs, _ := srv.records(dns.TypeSRV)
		added := make(map[string]struct{}, len(rrs))
		for _, rr := range rrs {
			rec := rr.(*dns.SRV)
			rec.Weight = srvWeight(len(rrs))
			if _, dup := added[rec.Target]; dup {
				continue
			}
			added[rec.Target] = struct{}{}
			for _, s := range b.names[rec.Target[:len(rec.Target)-len(b.svcName)]].sets {
				srv.extra = append(srv.extra, s.rrs...)
			}
		}
	}
}
