// Package clusterset is a CoreDNS plugin that answers the Kubernetes Multi-Cluster Services
// DNS specification (KEP-1645, schema 1.0.0) for the clusterset.local zone, from ServiceImports
// and the EndpointSlices labelled multicluster.kubernetes.io/service-name.
//
// Informer events re-index the imports they touch into a new immutable snapshot of every name;
// ServeDNS only looks the query name up in the current snapshot, whose records are built with it
// or, for per-endpoint and SRV names, by their first query.
package clusterset

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
)

const pluginName = "clusterset"

// Clusterset is the plugin handler.
type Clusterset struct {
	Next  plugin.Handler
	Zones []string
	Fall  fall.F

	ttl uint32

	// snapshot is nil until the informers have synced; the plugin is not ready until then.
	snapshot atomic.Pointer[snapshot]
}

// ServeDNS implements plugin.Handler.
func (c *Clusterset) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zi := c.zoneOf(qname)
	if zi < 0 {
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}
	if qtype := state.QType(); qtype == dns.TypeAXFR || qtype == dns.TypeIXFR {
		return dns.RcodeRefused, nil // no zone transfers, as in CoreDNS's kubernetes plugin
	}
	snap := c.snapshot.Load()
	if snap == nil {
		// Before the first index every name is unknown: those that fall through go on.
		if c.Fall.Through(qname) {
			return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
		}
		return dns.RcodeServerFailure, nil
	}

	n := snap.lookup(zi, qname[:len(qname)-len(c.Zones[zi])], state.QType())
	if n == nil && c.Fall.Through(qname) {
		return plugin.NextOrFailure(c.Name(), c.Next, ctx, w, r)
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if n == nil {
		m.Rcode = dns.RcodeNameError
		m.Ns = snap.zones[zi].soa
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}

	m.Answer, m.Extra = n.records(state.QType())
	switch {
	case n.nameserver:
		m.Answer = c.nameserverAddress(state, snap.zones[zi].nameserver, state.QType(), false)
	case n.apex && state.QType() == dns.TypeNS:
		m.Extra = c.nameserverAddress(state, snap.zones[zi].nameserver, 0, true)
	}
	if len(m.Answer) == 0 {
		m.Ns = snap.zones[zi].soa
	}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// zoneOf returns the index of the longest of the plugin's zones that holds qname, or -1. It is
// plugin.Zones.Matches without its allocations: both names are lowercase and fully qualified,
// and no zone is the root (setup refuses it).
func (c *Clusterset) zoneOf(qname string) int {
	if strings.IndexByte(qname, '\\') >= 0 {
		// Escaped dots: let miekg/dns split the labels.
		return slices.Index(c.Zones, plugin.Zones(c.Zones).Matches(qname))
	}
	best := -1
	for i, z := range c.Zones {
		if (best < 0 || len(z) > len(c.Zones[best])) && strings.HasSuffix(qname, z) &&
			(len(qname) == len(z) || qname[len(qname)-len(z)-1] == '.') {
			best = i
		}
	}
	return best
}

// nameserverAddress is the address record of the NS target ns.dns.<zone> (owner): the server
// address the query arrived on, the one address of this server the client is known to reach.
// CoreDNS's kubernetes plugin, when it cannot find its own Service, likewise answers with the
// addresses it listens on. qtype is the asked type; glue takes either family (and ignores qtype).
func (c *Clusterset) nameserverAddress(state request.Request, owner string, qtype uint16, glue bool) []dns.RR {
	addr, err := netip.ParseAddr(state.LocalIP())
	if err != nil {
		return nil
	}
	addr = addr.Unmap()
	switch {
	case addr.Is4() && (qtype == dns.TypeA || glue):
		return []dns.RR{&dns.A{Hdr: hdr(owner, dns.TypeA, c.ttl), A: addr.AsSlice()}}
	case addr.Is6() && (qtype == dns.TypeAAAA || glue):
		return []dns.RR{&dns.AAAA{Hdr: hdr(owner, dns.TypeAAAA, c.ttl), AAAA: addr.AsSlice()}}
	}
	return nil
}

// Name implements plugin.Handler.
func (c *Clusterset) Name() string { return pluginName }

// Ready implements the ready.Readiness interface: ready once the informers have synced and the
// first snapshot is published.
func (c *Clusterset) Ready() bool { return c.snapshot.Load() != nil }
