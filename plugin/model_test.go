package clusterset

import (
	"net/netip"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestNewService(t *testing.T) {
	pg := []discovery.EndpointPort{slicePort("pg", corev1.ProtocolTCP, 5432), slicePort("", corev1.ProtocolTCP, 9000)}
	addr := netip.MustParseAddr
	pgPort := []port{{name: "pg", proto: "tcp", port: 5432}, {proto: "tcp", port: 9000}}
	tests := []struct {
		name string
		objs []runtime.Object
		want []service
	}{
		{
			name: "clustersetip keeps ips in order, each once, and ports SRV can carry",
			objs: []runtime.Object{clusterSetIP("ns", "web", []string{"fd00::1", "10.0.0.1", "not-an-ip", "::ffff:10.0.0.2", "10.0.0.1", "fd00:0::1"},
				importPort("http", corev1.ProtocolTCP, 80), importPort("", corev1.ProtocolTCP, 81),
				importPort("q", corev1.ProtocolSCTP, 82), importPort("BAD_NAME", corev1.ProtocolTCP, 83),
				importPort("dflt", "", 84), importPort("icmp", "ICMP", 85))},
			want: []service{{namespace: "ns", name: "web",
				ips: []netip.Addr{addr("fd00::1"), addr("10.0.0.1"), addr("10.0.0.2")},
				ports: []port{{name: "http", proto: "tcp", port: 80}, {proto: "tcp", port: 81},
					{name: "q", proto: "sctp", port: 82}, {name: "dflt", proto: "tcp", port: 84}}}},
		},
		{
			name: "headless keeps ready and unknown endpoints, sorted by cluster, hostname, address",
			objs: []runtime.Object{headless("ns", "db"),
				mcsSlice("ns", "b", "db", "c2", discovery.AddressTypeIPv4, pg, ep(ready, "x", "10.0.2.1")),
				mcsSlice("ns", "a", "db", "c1", discovery.AddressTypeIPv4, pg,
					ep(notReady, "gone", "10.0.1.9"), ep(unknown, "", "10.0.1.2"), ep(ready, "a", "10.0.1.1")),
			},
			want: []service{{namespace: "ns", name: "db", headless: true, endpoints: []endpoint{
				{cluster: "c1", hostname: "10-0-1-2", addr: addr("10.0.1.2"), ports: pgPort},
				{cluster: "c1", hostname: "a", addr: addr("10.0.1.1"), ports: pgPort},
				{cluster: "c2", hostname: "x", addr: addr("10.0.2.1"), ports: pgPort},
			}}},
		},
		{
			name: "duplicate endpoints in two slices count once",
			objs: []runtime.Object{headless("ns", "db"),
				mcsSlice("ns", "a", "db", "c1", discovery.AddressTypeIPv4, nil, ep(ready, "h", "10.0.1.1")),
				mcsSlice("ns", "a2", "db", "c1", discovery.AddressTypeIPv4, nil, ep(ready, "h", "10.0.1.1")),
			},
			want: []service{{namespace: "ns", name: "db", headless: true, endpoints: []endpoint{
				{cluster: "c1", hostname: "h", addr: addr("10.0.1.1")},
			}}},
		},
		{
			name: "ipv6 dashed hostname, invalid cluster label and hostname, FQDN slices",
			objs: []runtime.Object{headless("ns", "db"),
				mcsSlice("ns", "a", "db", "Not_A_Label", discovery.AddressTypeIPv6, nil, ep(ready, "", "2001:db8::1")),
				mcsSlice("ns", "b", "db", "c1", discovery.AddressTypeIPv4, nil, ep(ready, "bad.host", "10.0.0.1")),
				mcsSlice("ns", "c", "db", "c1", discovery.AddressTypeFQDN, nil, ep(ready, "", "example.com")),
			},
			want: []service{{namespace: "ns", name: "db", headless: true, endpoints: []endpoint{
				{cluster: "", hostname: "2001-db8--1", addr: addr("2001:db8::1")},
				{cluster: "c1", hostname: "10-0-0-1", addr: addr("10.0.0.1")},
			}}},
		},
		{
			name: "slices of other namespaces, other services and clustersetip imports are not endpoints",
			objs: []runtime.Object{headless("ns", "db"), clusterSetIP("ns", "web", nil),
				mcsSlice("other", "a", "db", "c1", discovery.AddressTypeIPv4, nil, ep(ready, "", "10.0.0.1")),
				mcsSlice("ns", "b", "web", "c1", discovery.AddressTypeIPv4, nil, ep(ready, "", "10.0.0.2")),
			},
			want: []service{
				{namespace: "ns", name: "db", headless: true},
				{namespace: "ns", name: "web"},
			},
		},
		{
			name: "imports whose names are no DNS labels do not exist",
			objs: []runtime.Object{clusterSetIP("ns", "z", nil), clusterSetIP("ns", "Bad", nil), clusterSetIP("a", "y", nil)},
			want: []service{{namespace: "a", name: "y"}, {namespace: "ns", name: "z"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]*service{}
			for _, svc := range tc.want {
				want[svc.name+"."+svc.namespace] = &svc
			}
			if got := changes(tc.objs...); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestDashedIP(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":    "10-0-0-1",
		"2001:db8::1": "2001-db8--1",
		"fd00::":      "fd00--0",
		"::1":         "0--1",
		"::":          "0--0",
		"fd00::1:0":   "fd00--1-0",
	} {
		if got := dashedIP(netip.MustParseAddr(in)); got != want {
			t.Errorf("dashedIP(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		name, proto string
		port        int32
		want        port
		ok          bool
	}{
		{"http", "TCP", 80, port{"http", "tcp", 80}, true},
		{"dns", "UDP", 53, port{"dns", "udp", 53}, true},
		{"x", "SCTP", 65535, port{"x", "sctp", 65535}, true},
		{"", "TCP", 80, port{"", "tcp", 80}, true},
		{"http", "", 80, port{"http", "tcp", 80}, true},
		{"http", "tcp", 80, port{"http", "tcp", 80}, true},
		{"bad.name", "TCP", 80, port{}, false},
		{"http", "ICMP", 80, port{}, false},
		{"http", "TCP", 0, port{}, false},
		{"http", "TCP", 65536, port{}, false},
		{"Http", "TCP", 80, port{}, false},
	}
	for _, tc := range tests {
		got, ok := parsePort(tc.name, tc.proto, tc.port)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parsePort(%q, %q, %d) = %v, %t; want %v, %t", tc.name, tc.proto, tc.port, got, ok, tc.want, tc.ok)
		}
	}
}

func TestZoneOf(t *testing.T) {
	cs := &Clusterset{Zones: []string{"clusterset.local.", "a.clusterset.local.", "example."}}
	tests := map[string]int{
		"clusterset.local.":                0,
		"web.ns.svc.clusterset.local.":     0,
		"x.a.clusterset.local.":            1,
		"a.clusterset.local.":              1,
		"xclusterset.local.":               -1,
		"local.":                           -1,
		"example.":                         2,
		"org.":                             -1,
		`a\.clusterset.local.`:             -1,
		`x.a\.b.clusterset.local.`:         0,
		"web.ns.svc.clusterset.local.com.": -1,
	}
	for qname, want := range tests {
		if got := cs.zoneOf(qname); got != want {
			t.Errorf("zoneOf(%q) = %d, want %d", qname, got, want)
		}
	}
}
