package clusterset

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// service is what DNS needs of one ServiceImport and its EndpointSlices, independent of the
// zone it is served in. Every label in it is a valid lowercase DNS label.
type service struct {
	namespace, name string
	headless        bool
	ips             []netip.Addr // ClusterSetIP only, in spec order, without duplicates
	ports           []port       // ClusterSetIP only: the ports of the import
	endpoints       []endpoint   // headless only: ready endpoints of every cluster, sorted
}

// endpoint is one ready address of a headless import.
type endpoint struct {
	cluster  string // from the slice's source-cluster label; "" if the label is missing or invalid
	hostname string // the endpoint's hostname, or the dashed IP
	addr     netip.Addr
	ports    []port // the ports of its slice
}

// port is a port of an import or a slice. Every port gets SRV records at the service name; a
// named one also at _<name>._<proto>.
type port struct {
	name  string // "" for an unnamed port
	proto string // lowercase, as it appears in _<port>._<proto>
	port  uint16
}

// newService combines an import with its slices. It reports false for an import whose name or
// namespace cannot be a DNS label, which then does not exist in DNS.
func newService(imp *cachedImport, sl []*cachedSlice) (service, bool) {
	if !isLabel(imp.namespace) || !isLabel(imp.name) {
		return service{}, false
	}
	svc := service{namespace: imp.namespace, name: imp.name, headless: imp.headless}
	if !svc.headless {
		svc.ips, svc.ports = imp.ips, imp.ports
		return svc, true
	}
	for _, s := range sl {
		for _, e := range s.endpoints {
			host := e.hostname
			if host == "" {
				host = dashedIP(e.addr)
			}
			svc.endpoints = append(svc.endpoints, endpoint{cluster: s.cluster, hostname: host, addr: e.addr, ports: s.ports})
		}
	}
	slices.SortFunc(svc.endpoints, func(a, b endpoint) int {
		return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.hostname, b.hostname), a.addr.Compare(b.addr))
	})
	// The same address may appear in two slices for a moment, e.g. while a slice is replaced.
	svc.endpoints = slices.CompactFunc(svc.endpoints, func(a, b endpoint) bool {
		return a.cluster == b.cluster && a.hostname == b.hostname && a.addr == b.addr
	})
	return svc, true
}

// parseAddr accepts an IPv4 or IPv6 address without zone; IPv4-mapped IPv6 becomes IPv4.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parsePort keeps ports that SRV records can carry: a port number that fits, a known protocol
// (empty means TCP, the default of both APIs), and a name that is empty or a DNS label.
func parsePort(name, proto string, p int32) (port, bool) {
	if (name != "" && !isLabel(name)) || p <= 0 || p > 65535 {
		return port{}, false
	}
	// Constants rather than strings.ToLower: every cached port shares them.
	switch strings.ToUpper(proto) {
	case "TCP", "":
		proto = "tcp"
	case "UDP":
		proto = "udp"
	case "SCTP":
		proto = "sctp"
	default:
		return port{}, false
	}
	return port{name: name, proto: proto, port: uint16(p)}, true
}

// dashedIP is the per-endpoint hostname of an address without one: 10.0.0.1 -> 10-0-0-1,
// 2001:db8::1 -> 2001-db8--1, the form CoreDNS's kubernetes plugin uses. A label may not start
// or end with a hyphen: like kubernetes, fd00:: becomes fd00--0, and likewise ::1 becomes 0--1
// (where kubernetes writes --1, which is no valid label).
func dashedIP(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	s = strings.ReplaceAll(s, ":", "-")
	if strings.HasPrefix(s, "-") {
		s = "0" + s
	}
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	return s
}

// isLabel reports whether s can be used as one label of a lowercase DNS name.
func isLabel(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }
