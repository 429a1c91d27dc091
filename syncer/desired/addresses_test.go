package desired

import (
	"net/netip"
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestAddressFilter(t *testing.T) {
	f := AddressFilter{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16"), netip.MustParsePrefix("fd00:96::/112")}}
	v4, v6 := discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6
	tests := []struct {
		typ     discoveryv1.AddressType
		address string
		want    DropReason
	}{
		{v4, "10.1.0.5", ""},
		{v6, "fd00:1::5", ""},
		{v4, "10.96.0.1", DropServiceCIDR}, // the importing cluster's kubernetes VIP
		{v4, "10.96.255.255", DropServiceCIDR},
		{v4, "10.97.0.1", ""},
		{v6, "fd00:96::1", DropServiceCIDR},
		{v4, "127.0.0.1", DropLoopback},
		{v4, "127.1.2.3", DropLoopback},
		{v6, "::1", DropLoopback},
		{v4, "169.254.169.254", DropLinkLocal}, // cloud metadata
		{v6, "fe80::1", DropLinkLocal},
		{v4, "0.0.0.0", DropUnspecified},
		{v6, "::", DropUnspecified},
		{v4, "224.0.0.1", DropMulticast},
		{v4, "239.1.2.3", DropMulticast},
		{v6, "ff02::1", DropMulticast},
		{v6, "ff05::2", DropMulticast},
		{v4, "fd00:1::5", DropInvalid},        // wrong family for the slice
		{v6, "10.1.0.5", DropInvalid},         // wrong family for the slice
		{v6, "::ffff:10.96.0.1", DropInvalid}, // IPv4-mapped: would dodge the IPv4 ranges
		{v4, "010.001.000.005", DropInvalid},  // leading zeros: read as octal by some parsers
		{v6, "FD00:1::5", DropInvalid},        // not canonical
		{v6, "fe80::1%eth0", DropInvalid},     // zone
		{v4, "not-an-ip", DropInvalid},
		{v4, "", DropInvalid},
	}
	for _, tt := range tests {
		if got := f.Check(tt.typ, tt.address); got != tt.want {
			t.Errorf("Check(%s, %q) = %q, want %q", tt.typ, tt.address, got, tt.want)
		}
	}
	if got := (AddressFilter{}).Check(v4, "10.96.0.1"); got != "" {
		t.Errorf("without Service CIDRs, Check(10.96.0.1) = %q, want it kept", got)
	}
}

// TestEndpointSlicesDropPerEndpoint: a bad endpoint goes alone; the rest of its slice is
// mirrored, and each drop is reported with its source cluster and reason.
func TestEndpointSlicesDropPerEndpoint(t *testing.T) {
	bad := func(ip string) discoveryv1.Endpoint { return podEndpoint(ip, "p-"+ip) }
	badHostname := podEndpoint("10.2.0.9", "p-host")
	badHostname.Hostname = ptrTo("Not_A_Label")
	twoAddresses := podEndpoint("10.2.0.8", "p-two")
	twoAddresses.Addresses = append(twoAddresses.Addresses, "127.0.0.1")
	src := sourceSlice("web-abcde", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{endpointPort("http", 8080)},
		podEndpoint("10.2.0.1", "good-1"), bad("10.96.0.1"), bad("127.0.0.1"), bad("169.254.169.254"),
		bad("0.0.0.0"), bad("224.0.0.5"), badHostname, twoAddresses, podEndpoint("10.2.0.2", "good-2"))
	exports := []ClusterExport{clusterExport("cluster-2", 0, newService(), withSlices(src))}
	s, _ := Merge("default", "web", exports)
	got, dropped := EndpointSlices(s, exports, SliceOptions{
		DerivedName: DerivedServiceName("web"), LocalCluster: "cluster-1",
		Addresses: AddressFilter{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}},
	})
	if len(got) != 1 {
		t.Fatalf("%d slices, want 1", len(got))
	}
	var kept []string
	for _, ep := range got[0].Endpoints {
		kept = append(kept, ep.Addresses...)
	}
	if want := []string{"10.2.0.1", "10.2.0.2"}; !slices.Equal(kept, want) {
		t.Errorf("mirrored %v, want %v", kept, want)
	}
	want := []DroppedEndpoint{
		{"cluster-2", "10.96.0.1", DropServiceCIDR}, {"cluster-2", "127.0.0.1", DropLoopback},
		{"cluster-2", "169.254.169.254", DropLinkLocal}, {"cluster-2", "0.0.0.0", DropUnspecified},
		{"cluster-2", "224.0.0.5", DropMulticast}, {"cluster-2", "10.2.0.9", DropInvalid},
		{"cluster-2", "10.2.0.8", DropLoopback},
	}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %v, want %v", dropped, want)
	}
}
