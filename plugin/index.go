package clusterset

import (
	"maps"
	"strings"

	"github.com/miekg/dns"
)

// snapshot is an immutable index of every name the plugin answers. A change produces a new
// snapshot (see update) that shares with the previous one every shard it did not touch; nothing
// reachable from a published snapshot is ever modified, except that the records of per-endpoint
// and SRV names are stored once, atomically, by their first query (see importNames). Record
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
	names     []*importNames // by zone; see buildNames
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

// lookup returns the node of rel in zone i for a query of qtype, or nil if it does not exist.
// rel is the name relative to the zone, with its trailing dot ("web.default.svc."). It parses
// rel as [<prefix>]<svc>.<ns>.svc. without allocating. Labels with escaped dots never match,
// because no indexed name contains a backslash.
func (s *snapshot) lookup(i int, rel string, qtype uint16) *node {
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
	if imp.names[i] == nil {
		return nil
	}
	return imp.names[i].lookup(head[:svcDot+1], qtype)
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
			imp.names = append(imp.names, buildNames(zone, ttl, svc))
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
		if names == nil {
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
