package clusterset

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// service is what DNS needs of one ServiceImport and its EndpointSlices, independent of the
// zone it is served in. Every label in it is a valid lowercase DNS label.
type service struct {
	namespace, name string
	headless        bool
	ips             []netip.Addr // ClusterSetIP only, in spec order
	ports           []port       // ClusterSetIP only: the named ports of the import
	endpoints       []endpoint   // headless only: ready endpoints of every cluster, sorted
}

// endpoint is one ready address of a headless import.
type endpoint struct {
	cluster  string // from the slice's source-cluster label; "" if the label is missing or invalid
	hostname string // the endpoint's hostname, or the dashed IP
	addr     netip.Addr
	ports    []port // the named ports of its slice
}

// port is a named port; unnamed ports get no SRV records, so they are never kept.
type port struct {
	name  string
	proto string // lowercase, as it appears in _<port>._<proto>
	port  uint16
}

// services turns ServiceImports and EndpointSlices into the zone-independent DNS model. Objects
// whose names cannot be DNS labels are skipped; slices without an import are ignored.
func services(imports []*mcs.ServiceImport, slices_ []*discovery.EndpointSlice) []service {
	bySvc := make(map[string][]*discovery.EndpointSlice)
	for _, s := range slices_ {
		key := s.Namespace + "/" + s.Labels[mcs.LabelServiceName]
		bySvc[key] = append(bySvc[key], s)
	}

	out := make([]service, 0, len(imports))
	for _, si := range imports {
		if !isLabel(si.Namespace) || !isLabel(si.Name) {
			continue
		}
		svc := service{namespace: si.Namespace, name: si.Name, headless: si.Spec.Type == mcs.Headless}
		if svc.headless {
			svc.endpoints = readyEndpoints(bySvc[si.Namespace+"/"+si.Name])
		} else {
			svc.ips = parseAddrs(si.Spec.IPs)
			for _, p := range si.Spec.Ports {
				if np, ok := namedPort(p.Name, string(p.Protocol), p.Port); ok {
					svc.ports = append(svc.ports, np)
				}
			}
		}
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b service) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	return out
}

// readyEndpoints lists the ready addresses of the slices, sorted by cluster, hostname and
// address, without duplicates (the same address may appear in two slices during a rollover).
func readyEndpoints(sl []*discovery.EndpointSlice) []endpoint {
	var out []endpoint
	for _, s := range sl {
		if s.AddressType != discovery.AddressTypeIPv4 && s.AddressType != discovery.AddressTypeIPv6 {
			continue
		}
		cluster := s.Labels[mcs.LabelSourceCluster]
		if !isLabel(cluster) {
			cluster = ""
		}
		var ports []port
		for _, p := range s.Ports {
			if p.Name == nil || p.Port == nil {
				continue
			}
			proto := "TCP"
			if p.Protocol != nil {
				proto = string(*p.Protocol)
			}
			if np, ok := namedPort(*p.Name, proto, *p.Port); ok {
				ports = append(ports, np)
			}
		}
		for _, ep := range s.Endpoints {
			// A nil ready condition means "unknown", which consumers must treat as ready.
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil || addr.Zone() != "" {
					continue
				}
				addr = addr.Unmap()
				host := dashedIP(addr)
				if ep.Hostname != nil && isLabel(*ep.Hostname) {
					host = *ep.Hostname
				}
				out = append(out, endpoint{cluster: cluster, hostname: host, addr: addr, ports: ports})
			}
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.hostname, b.hostname), a.addr.Compare(b.addr))
	})
	return slices.CompactFunc(out, func(a, b endpoint) bool {
		return a.cluster == b.cluster && a.hostname == b.hostname && a.addr == b.addr
	})
}

func parseAddrs(ips []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// namedPort keeps ports that can appear as _<name>._<proto>: named, with a known protocol and a
// port number that fits an SRV record.
func namedPort(name, proto string, p int32) (port, bool) {
	proto = strings.ToLower(proto)
	if name == "" || !isLabel(name) || p <= 0 || p > 65535 {
		return port{}, false
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return port{}, false
	}
	return port{name: name, proto: proto, port: uint16(p)}, true
}

// dashedIP is the per-endpoint hostname of an address without one: 10.0.0.1 -> 10-0-0-1,
// 2001:db8::1 -> 2001-db8--1 (the form CoreDNS's kubernetes plugin uses).
func dashedIP(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// isLabel reports whether s can be used as one label of a lowercase DNS name.
func isLabel(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }
