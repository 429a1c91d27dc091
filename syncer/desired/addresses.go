package desired

import (
	"net/netip"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DropReason says why a mirrored endpoint was left out; it is the "reason"
// label of the endpoints-dropped metric.
type DropReason string

// Reasons an endpoint from a member is not mirrored into a target cluster.
const (
	// DropInvalid: the target's apiserver would refuse the endpoint (an
	// address that is not a canonical address of the slice's family, or a
	// hostname that is not a DNS label).
	DropInvalid DropReason = "Invalid"
	// DropServiceCIDR: the address is in one of the target's Service CIDRs, so
	// it would steer traffic to a local Service such as kubernetes.default.
	DropServiceCIDR DropReason = "ServiceCIDR"
	DropLoopback    DropReason = "Loopback"
	DropLinkLocal   DropReason = "LinkLocal"
	DropUnspecified DropReason = "Unspecified"
	DropMulticast   DropReason = "Multicast"
)

// AddressFilter decides which member endpoint addresses may be mirrored into
// one target cluster. The zero value applies only the fixed ranges.
type AddressFilter struct {
	// ServiceCIDRs are the target cluster's Service ranges.
	ServiceCIDRs []netip.Prefix
}

// Check returns why an address of a slice of the given address type must not
// be mirrored, or "" when it may. Only canonical text is accepted (no leading
// zeros, no zone, no IPv4-mapped IPv6), so that what is checked is exactly
// what kube-proxy would program.
func (f AddressFilter) Check(addressType discoveryv1.AddressType, address string) DropReason {
	addr, err := netip.ParseAddr(address)
	switch {
	case err != nil, addr.String() != address, addr.Zone() != "",
		addressType == discoveryv1.AddressTypeIPv4 && !addr.Is4(),
		addressType == discoveryv1.AddressTypeIPv6 && (!addr.Is6() || addr.Is4In6()):
		return DropInvalid
	case addr.IsUnspecified():
		return DropUnspecified
	case addr.IsLoopback():
		return DropLoopback
	case addr.IsLinkLocalUnicast():
		return DropLinkLocal
	case addr.IsMulticast():
		return DropMulticast
	}
	for _, p := range f.ServiceCIDRs {
		if p.Contains(addr) {
			return DropServiceCIDR
		}
	}
	return ""
}

// maxAddressesPerEndpoint is the apiserver's limit.
const maxAddressesPerEndpoint = 100

// checkEndpoint returns why an endpoint must not be mirrored, or "": any of
// its addresses or its hostname failing is enough, as consumers treat the
// addresses of one endpoint as interchangeable.
func (f AddressFilter) checkEndpoint(addressType discoveryv1.AddressType, ep discoveryv1.Endpoint) DropReason {
	if len(ep.Addresses) == 0 || len(ep.Addresses) > maxAddressesPerEndpoint {
		return DropInvalid
	}
	if ep.Hostname != nil && len(validation.IsDNS1123Label(*ep.Hostname)) > 0 {
		return DropInvalid
	}
	for _, a := range ep.Addresses {
		if r := f.Check(addressType, a); r != "" {
			return r
		}
	}
	return ""
}

// DroppedEndpoint is one member endpoint left out of a target cluster.
type DroppedEndpoint struct {
	// Cluster is the member that published it.
	Cluster string
	// Address is its first address.
	Address string
	Reason  DropReason
}
