package clusterset

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// importNames is one import's names in one zone. The records of the service name, which nearly
// every query asks for, are built with the index, carved out of arrays sized per import (one
// allocation per kind rather than one per record and address, each rounded up to its size
// class). The records of a per-endpoint name, and the SRV names (SRV at the service name,
// _<proto>. and _<port>._<proto>.), are built on the first query that needs them and kept from
// then on: until then a name costs what its lookup needs. So the index grows with the names
// clients ask for, up to every record built in advance, and no query after the first allocates.
type importNames struct {
	owner     string // <svc>.<ns>.svc.<zone>
	ttl       uint32
	headless  bool
	service   node           // the service name with its A/AAAA records; SRV is in srv
	endpoints []endpointName // headless: <hostname>.<clusterid>., sorted by that prefix
	addrs     []netip.Addr   // headless: the addresses of every endpoint name, see addrsOf
	// ports is what SRV records are built from: the import's ports (ClusterSetIP), or the ports
	// of every endpoint name (headless) unless they differ, when endpointPorts holds them by
	// endpoints index.
	ports         []port
	endpointPorts [][]port
	srv           atomic.Pointer[srvNames]
}

// endpointName is the name of one or more endpoints with one hostname in one cluster.
type endpointName struct {
	hostname, cluster string // the labels of its prefix, shared with the cache
	first             int    // its addresses start at importNames.addrs[first]
	node              atomic.Pointer[node]
}

// addrsOf returns the addresses of endpoint name i, A before AAAA.
func (n *importNames) addrsOf(i int) []netip.Addr {
	end := len(n.addrs)
	if i+1 < len(n.endpoints) {
		end = n.endpoints[i+1].first
	}
	return n.addrs[n.endpoints[i].first:end:end]
}

// portsOf returns the ports of endpoint name i: those of its endpoints' slices.
func (n *importNames) portsOf(i int) []port {
	if n.endpointPorts != nil {
		return n.endpointPorts[i]
	}
	return n.ports
}

// compare orders e by its prefix <hostname>.<cluster>. against prefix, without building it.
func (e *endpointName) compare(prefix string) int {
	for _, part := range [...]string{e.hostname, ".", e.cluster, "."} {
		k := min(len(part), len(prefix))
		if c := strings.Compare(part[:k], prefix[:k]); c != 0 {
			return c
		}
		if k < len(part) {
			return 1 // prefix is a proper prefix of e's
		}
		prefix = prefix[k:]
	}
	if prefix != "" {
		return -1
	}
	return 0
}

// srvNames is the part of importNames built on first use.
type srvNames struct {
	service node        // the service name: its address records, SRV records and their extra
	names   []namedNode // _<proto>. and _<port>._<proto>., sorted by prefix
}

// namedNode is one name of a service: the service name itself (prefix ""), an SRV name or its
// parent (_http._tcp., _tcp.), or a per-endpoint name (db-0.cluster-1.).
type namedNode struct {
	prefix string // the labels before <svc>.<ns>.svc.<zone>, with the trailing dot
	node   node
}

// lookup returns the node of the name prefix + n.owner for a query of qtype, or nil. Only an SRV
// query at the service name, or a query of a name that starts with an underscore (no hostname
// or cluster ID does), builds the SRV names.
func (n *importNames) lookup(prefix string, qtype uint16) *node {
	switch {
	case prefix == "" && qtype != dns.TypeSRV:
		return &n.service
	case prefix == "":
		return &n.srvNames().service
	case prefix[0] == '_':
		names := n.srvNames().names
		if j, ok := slices.BinarySearchFunc(names, prefix, func(e namedNode, p string) int { return strings.Compare(e.prefix, p) }); ok {
			return &names[j].node
		}
		return nil
	}
	j := sort.Search(len(n.endpoints), func(j int) bool { return n.endpoints[j].compare(prefix) >= 0 })
	if j < len(n.endpoints) && n.endpoints[j].compare(prefix) == 0 {
		return n.endpointNode(j)
	}
	return nil
}

// endpointNode returns the node of endpoint name i, building it on the first call (as srvNames
// does).
func (n *importNames) endpointNode(i int) *node {
	if nd := n.endpoints[i].node.Load(); nd != nil {
		return nd
	}
	n.buildEndpointNodes(i)
	return n.endpoints[i].node.Load()
}

// buildEndpointNodes builds the nodes of those endpoint names of which are not built yet, their
// records and owner names carved out of arrays shared by all of them.
func (n *importNames) buildEndpointNodes(which ...int) {
	var sizes recordCount
	var todo []int
	ownerBytes := 0
	for _, i := range which {
		if e := &n.endpoints[i]; e.node.Load() == nil {
			todo = append(todo, i)
			sizes.add(n.addrsOf(i))
			ownerBytes += len(e.hostname) + len(e.cluster) + 2 + len(n.owner)
		}
	}
	if len(todo) == 0 {
		return
	}
	var b strings.Builder
	b.Grow(ownerBytes)
	for _, i := range todo {
		e := &n.endpoints[i]
		b.WriteString(e.hostname)
		b.WriteByte('.')
		b.WriteString(e.cluster)
		b.WriteByte('.')
		b.WriteString(n.owner)
	}
	owners, rec, nodes := b.String(), sizes.records(), make([]node, len(todo))
	for k, i := range todo {
		e := &n.endpoints[i]
		size := len(e.hostname) + len(e.cluster) + 2 + len(n.owner)
		nodes[k].sets = rec.sets(owners[:size], n.ttl, n.addrsOf(i))
		owners = owners[size:]
		e.node.CompareAndSwap(nil, &nodes[k]) // a concurrent first query may have built it
	}
}

// srvNames returns the SRV names, building them on the first call. Concurrent first calls may
// each build them; one result is kept and every caller gets that one.
func (n *importNames) srvNames() *srvNames {
	if s := n.srv.Load(); s != nil {
		return s
	}
	n.srv.CompareAndSwap(nil, n.buildSRV())
	return n.srv.Load()
}

// buildNames returns the names of svc in zone, or nil if it has none there. A ClusterSetIP
// import has the service name (A/AAAA of spec.ips) and SRV names. A headless import with ready
// endpoints has the service name (every ready address), one name per endpoint with a cluster ID
// (<hostname>.<clusterid>.) and SRV names; without ready endpoints it has no names.
// <clusterid>.<svc> is reserved by the MCS DNS specification and never added.
func buildNames(zone string, ttl uint32, svc *service) *importNames {
	n := &importNames{owner: svc.name + "." + svc.namespace + ".svc." + zone, ttl: ttl, headless: svc.headless}
	if !fits(n.owner) || (svc.headless && len(svc.endpoints) == 0) {
		return nil
	}
	if !svc.headless {
		var sizes recordCount
		sizes.add(svc.ips)
		n.service.sets = sizes.records().sets(n.owner, ttl, svc.ips)
		n.ports = svc.ports
		return n
	}
	n.addEndpoints(svc.endpoints)
	return n
}

// addEndpoints gives the service name every distinct ready address, and indexes the name of each
// endpoint with a cluster ID. eps is sorted by cluster, hostname and address (see newService),
// so the endpoints of one name are adjacent, A before AAAA.
func (n *importNames) addEndpoints(eps []endpoint) {
	var all []netip.Addr
	seen := make(map[netip.Addr]struct{}, len(eps))
	for _, e := range eps {
		if _, dup := seen[e.addr]; !dup {
			seen[e.addr] = struct{}{}
			all = append(all, e.addr)
		}
	}
	var sizes recordCount
	sizes.add(all)
	n.service.sets = sizes.records().sets(n.owner, n.ttl, all)

	type group struct {
		prefix string
		eps    []endpoint
	}
	var groups []group
	for rest := eps; len(rest) > 0; {
		k := 1
		for k < len(rest) && rest[k].cluster == rest[0].cluster && rest[k].hostname == rest[0].hostname {
			k++
		}
		g := group{rest[0].hostname + "." + rest[0].cluster + ".", rest[:k]}
		rest = rest[k:]
		if g.eps[0].cluster != "" && fits(g.prefix+n.owner) { // else no name, hence no SRV target
			groups = append(groups, g)
		}
	}
	slices.SortFunc(groups, func(a, b group) int { return strings.Compare(a.prefix, b.prefix) })
	n.endpoints = make([]endpointName, len(groups))
	n.addrs = make([]netip.Addr, 0, len(eps))
	ports := make([][]port, len(groups))
	for i, g := range groups {
		e := &n.endpoints[i]
		e.hostname, e.cluster, e.first = g.eps[0].hostname, g.eps[0].cluster, len(n.addrs)
		for _, ep := range g.eps {
			n.addrs = append(n.addrs, ep.addr)
		}
		ports[i] = portsOf(g.eps)
	}
	n.addrs = slices.Clip(n.addrs)
	if len(ports) > 0 && !slices.ContainsFunc(ports, func(p []port) bool { return !slices.Equal(p, ports[0]) }) {
		n.ports = ports[0]
	} else {
		n.endpointPorts = ports
	}
}

// portsOf returns the ports of the endpoints' slices: usually all share one, which is then shared
// rather than copied.
func portsOf(eps []endpoint) []port {
	for _, e := range eps[1:] {
		if !slices.Equal(e.ports, eps[0].ports) {
			var all []port
			for _, e := range eps {
				all = append(all, e.ports...)
			}
			return all
		}
	}
	return eps[0].ports
}

// recordCount counts what a recordArena must hold.
type recordCount struct{ v4, v6, sets int }

// add counts the records of one name with the addresses addrs.
func (c *recordCount) add(addrs []netip.Addr) {
	v4 := 0
	for _, a := range addrs {
		if a.Is4() {
			v4++
		}
	}
	c.v4, c.v6 = c.v4+v4, c.v6+len(addrs)-v4
	c.sets += min(v4, 1) + min(len(addrs)-v4, 1)
}

func (c recordCount) records() *recordArena {
	return &recordArena{
		a:      make([]dns.A, c.v4),
		aaaa:   make([]dns.AAAA, c.v6),
		ip:     make([]byte, 4*c.v4+16*c.v6),
		rrs:    make([]dns.RR, 0, c.v4+c.v6),
		rrsets: make([]rrset, 0, c.sets),
	}
}

// recordArena hands out the address records of an import from arrays sized in advance.
type recordArena struct {
	a      []dns.A
	aaaa   []dns.AAAA
	ip     []byte
	rrs    []dns.RR
	rrsets []rrset
}

// sets returns the A and AAAA sets (in that order) of owner with the addresses addrs.
func (r *recordArena) sets(owner string, ttl uint32, addrs []netip.Addr) []rrset {
	first := len(r.rrsets)
	for _, v4 := range []bool{true, false} {
		from := len(r.rrs)
		for _, a := range addrs {
			if a.Is4() == v4 {
				r.rrs = append(r.rrs, r.record(owner, ttl, a))
			}
		}
		if to := len(r.rrs); to > from {
			t := dns.TypeAAAA
			if v4 {
				t = dns.TypeA
			}
			r.rrsets = append(r.rrsets, rrset{t, r.rrs[from:to:to]})
		}
	}
	if len(r.rrsets) == first {
		return nil
	}
	return r.rrsets[first:len(r.rrsets):len(r.rrsets)]
}

func (r *recordArena) record(owner string, ttl uint32, a netip.Addr) dns.RR {
	size := a.BitLen() / 8
	ip := r.ip[:size:size]
	r.ip = r.ip[size:]
	copy(ip, a.AsSlice())
	if a.Is4() {
		rr := &r.a[0]
		r.a = r.a[1:]
		*rr = dns.A{Hdr: hdr(owner, dns.TypeA, ttl), A: ip}
		return rr
	}
	rr := &r.aaaa[0]
	r.aaaa = r.aaaa[1:]
	*rr = dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, ttl), AAAA: ip}
	return rr
}

// buildSRV builds the SRV names and the service name with its SRV records.
func (n *importNames) buildSRV() *srvNames {
	b := &srvBuilder{importNames: n, names: map[string]*node{}}
	svc := &node{sets: slices.Clone(n.service.sets)}
	if n.headless {
		b.addHeadless(svc)
	} else {
		b.addClusterSetIP(svc, n.ports)
	}
	s := &srvNames{names: make([]namedNode, 0, len(b.names))}
	nodes := []*node{svc}
	for prefix, n := range b.names {
		s.names = append(s.names, namedNode{prefix: prefix, node: *n})
	}
	slices.SortFunc(s.names, func(a, b namedNode) int { return strings.Compare(a.prefix, b.prefix) })
	for i := range s.names {
		nodes = append(nodes, &s.names[i].node)
	}
	compactSRV(nodes)
	s.service = *svc
	return s
}

// compactSRV moves the SRV records of nodes into one array, and gives nodes with equal
// additional sections (the service name and each named port of a service whose endpoints have
// one port set) one copy of it: the builder leaves one allocation per record, and spare capacity.
func compactSRV(nodes []*node) {
	total := 0
	for _, n := range nodes {
		rrs, _ := n.records(dns.TypeSRV)
		total += len(rrs)
	}
	recs, slots := make([]dns.SRV, total), make([]dns.RR, total)
	var extras [][]dns.RR
	for _, n := range nodes {
		for i := range n.sets {
			if n.sets[i].qtype != dns.TypeSRV {
				continue
			}
			k := len(n.sets[i].rrs)
			for j, rr := range n.sets[i].rrs {
				recs[j] = *rr.(*dns.SRV)
				slots[j] = &recs[j]
			}
			n.sets[i].rrs = slots[:k:k]
			recs, slots = recs[k:], slots[k:]
		}
		n.sets = exact(n.sets)
		if j := slices.IndexFunc(extras, func(e []dns.RR) bool { return slices.Equal(e, n.extra) }); j >= 0 {
			n.extra = extras[j]
		} else {
			n.extra = exact(n.extra)
			extras = append(extras, n.extra)
		}
	}
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

// srvBuilder collects the SRV names of one service in one zone.
type srvBuilder struct {
	*importNames
	names map[string]*node // by prefix
}

func (b *srvBuilder) node(prefix string) *node {
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

// srvNode returns the node of _<port>._<proto>. of a named port, adding its parent _<proto>. as
// an empty non-terminal, or nil for an unnamed port or a name that would be too long.
func (b *srvBuilder) srvNode(p port) (*node, string) {
	if p.name == "" {
		return nil, ""
	}
	prefix := "_" + p.name + "._" + p.proto + "."
	owner := prefix + b.owner
	if !fits(owner) {
		return nil, ""
	}
	b.node(prefix[len(p.name)+2:])
	return b.node(prefix), owner
}

// srvWeight is the weight of each of n SRV records of one name: equal shares of 100, as CoreDNS's
// kubernetes plugin gives them.
func srvWeight(n int) uint16 { return uint16(max(1, 100/n)) } // #nosec G115 -- at most 100

// addClusterSetIP gives the service name n SRV records that target it, with its addresses as
// additional records: at n one per port number (a TCP and a UDP port of one number give one
// record, as in CoreDNS's kubernetes plugin), at _<port>._<proto> one per named port. Without
// addresses the SRV names exist but have no records, since a target without addresses would be
// no answer.
func (b *srvBuilder) addClusterSetIP(n *node, ports []port) {
	var addrs, atService []dns.RR
	for _, s := range n.sets {
		addrs = append(addrs, s.rrs...)
	}
	for _, p := range ports {
		srv, owner := b.srvNode(p)
		if len(addrs) == 0 {
			continue
		}
		if srv != nil {
			srv.add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV, b.ttl), Weight: 100, Port: p.port, Target: b.owner})
			srv.extra = addrs
		}
		if !slices.ContainsFunc(atService, func(rr dns.RR) bool { return rr.(*dns.SRV).Port == p.port }) {
			atService = append(atService, &dns.SRV{Hdr: hdr(b.owner, dns.TypeSRV, b.ttl), Port: p.port, Target: b.owner})
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

// addHeadless gives the service name n SRV records that target the endpoints' names: at n one
// per endpoint name and port number, at _<port>._<proto> one per endpoint name and named port.
// The additional section holds the targets' address records, shared with the endpoints' names.
func (b *srvBuilder) addHeadless(n *node) {
	type srvKey struct {
		owner, target string
		port          uint16
	}
	seen := make(map[srvKey]struct{})
	var srvNodes []*node
	targets := make(map[string]*node, len(b.endpoints))
	addSRV := func(srv *node, owner, target string, port uint16) {
		key := srvKey{owner, target, port}
		if _, dup := seen[key]; dup {
			return
		}
		seen[key] = struct{}{}
		if rrs, _ := srv.records(dns.TypeSRV); rrs == nil {
			srvNodes = append(srvNodes, srv)
		}
		srv.add(&dns.SRV{Hdr: hdr(owner, dns.TypeSRV, b.ttl), Port: port, Target: target})
	}
	all := make([]int, len(b.endpoints))
	for i := range all {
		all[i] = i
	}
	b.buildEndpointNodes(all...)
	for i := range b.endpoints {
		nd := b.endpointNode(i)
		target := nd.sets[0].rrs[0].Header().Name // the owner of its addresses
		targets[target] = nd
		for _, p := range b.portsOf(i) {
			addSRV(n, b.owner, target, p.port)
			if srv, owner := b.srvNode(p); srv != nil {
				addSRV(srv, owner, target, p.port)
			}
		}
	}
	// Weights and the additional section need every SRV record of a name.
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
			for _, s := range targets[rec.Target].sets {
				srv.extra = append(srv.extra, s.rrs...)
			}
		}
	}
}
