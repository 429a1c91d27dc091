// Package clusterset is a CoreDNS plugin that answers the Kubernetes Multi-Cluster Services
// DNS specification (KEP-1645, schema 1.0.0) for the clusterset.local zone, from ServiceImports
// and the EndpointSlices labelled multicluster.kubernetes.io/service-name.
//
// Informer events re-index the imports they touch into a new immutable snapshot that holds every
// answer in advance; ServeDNS only looks the query name up in the current snapshot.
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
	snap := c.snapshot.Load()
	if snap == nil {
		return dns.RcodeServerFailure, nil
	}

	n := snap.lookup(zi, qname[:len(qname)-len(c.Zones[zi])])
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
	if n.nameserver {
		m.Answer = c.localAddress(state)
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

// localAddress answers ns.dns.<zone> with the server address the query arrived on, if it is of
// the asked family.
func (c *Clusterset) localAddress(state request.Request) []dns.RR {
	addr, err := netip.ParseAddr(state.LocalIP())
	if err != nil {
		return nil
	}
	addr = addr.Unmap()
	hdr := dns.RR_Header{Name: state.Name(), Class: dns.ClassINET, Ttl: c.ttl}
	switch {
	case state.QType() == dns.TypeA && addr.Is4():
		hdr.Rrtype = dns.TypeA
		return []dns.RR{&dns.A{Hdr: hdr, A: addr.AsSlice()}}
	case state.QType() == dns.TypeAAAA && addr.Is6():
		hdr.Rrtype = dns.TypeAAAA
		return []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: addr.AsSlice()}}
	}
	return nil
}

// Name implements plugin.Handler.
func (c *Clusterset) Name() string { return pluginName }

// Ready implements the ready.Readiness interface: ready once the informers have synced and the
// first snapshot is published.
func (c *Clusterset) Ready() bool { return c.snapshot.Load() != nil }
