package inspect

import (
	"errors"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func TestCheck(t *testing.T) {
	web := Key{ns, "web"}
	db := Key{ns, "db"}
	headless := func(ready, notReady []string) func(*Snapshot) {
		return func(s *Snapshot) {
			s.Imports = append(s.Imports, managedImport("db", mcsv1alpha1.Headless, nil, "cluster-2"))
			s.Slices = append(s.Slices, mirrored("db", "cluster-2", ready, notReady))
		}
	}
	ok := &Answer{Rcode: NoError, Addresses: []string{"10.102.0.5"}}
	tests := []struct {
		name    string
		snap    Snapshot
		key     Key
		server  string
		got     *Answer
		err     error
		want    string // "RCODE addr,addr" of the expectation; "" when unknown
		result  string
		details []string
	}{
		{
			name: "ClusterSetIP answered with the VIP",
			snap: member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-1"}, webEndpoints)),
			key:  web, server: "127.0.0.12:53", got: ok,
			want: "10.102.0.5", result: ResultOK,
		},
		{
			name: "a hand-edited ServiceImport: DNS follows the import, kube-proxy the derived Service",
			snap: member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-1"}, webEndpoints), func(s *Snapshot) { s.Imports[0].Spec.IPs = []string{"10.9.9.9"} }),
			key:  web, server: "127.0.0.12:53", got: &Answer{Rcode: NoError, Addresses: []string{"10.9.9.9"}},
			want: "10.102.0.5", result: ResultMismatch,
			details: []string{"answers 10.9.9.9, want 10.102.0.5 (the cluster IPs of the derived Service derived-", "spec.ips 10.9.9.9 differ from the cluster IPs 10.102.0.5"},
		},
		{
			name: "ClusterSetIP answered with another address",
			snap: member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-1"}, webEndpoints)),
			key:  web, server: "127.0.0.12:53", got: &Answer{Rcode: NoError, Addresses: []string{"10.102.0.6"}},
			want: "10.102.0.5", result: ResultMismatch, details: []string{"answers 10.102.0.6, want 10.102.0.5"},
		},
		{
			name: "headless: the ready endpoints, in any order",
			snap: member("cluster-1", headless([]string{"10.244.2.11", "10.244.2.10"}, []string{"10.244.2.12"})),
			key:  db, server: "127.0.0.11:53", got: &Answer{Rcode: NoError, Addresses: []string{"10.244.2.11", "10.244.2.10"}},
			want: "10.244.2.10,10.244.2.11", result: ResultOK,
		},
		{
			name: "headless without ready endpoints must not exist",
			snap: member("cluster-1", headless(nil, []string{"10.244.2.12"})),
			key:  db, server: "127.0.0.11:53", got: &Answer{Rcode: NoError, Addresses: []string{"10.244.2.12"}},
			want: NXDomain, result: ResultMismatch, details: []string{"answers 10.244.2.12, want NXDOMAIN"},
		},
		{
			name: "no import: NXDOMAIN",
			snap: member("cluster-3"),
			key:  web, server: "127.0.0.13:53", got: &Answer{Rcode: NXDomain},
			want: NXDomain, result: ResultOK,
		},
		{
			name: "an FQDN slice answers nothing",
			snap: member("cluster-1", headless([]string{"10.244.2.10"}, nil), func(s *Snapshot) { s.Slices[0].AddressType = discoveryv1.AddressTypeFQDN }),
			key:  db, server: "127.0.0.11:53", got: &Answer{Rcode: NXDomain},
			want: NXDomain, result: ResultOK,
		},
		{
			name: "the DNS server does not answer",
			snap: member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-1"}, webEndpoints)),
			key:  web, server: "127.0.0.12:53", err: errors.New("read udp: i/o timeout"),
			want: "10.102.0.5", result: ResultUnreachable, details: []string{"i/o timeout"},
		},
		{
			name: "no DNS address known",
			snap: member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-1"}, webEndpoints)),
			key:  web,
			want: "10.102.0.5", result: ResultUnknown, details: []string{"give --dns cluster-2=HOST:PORT"},
		},
		{
			name: "an unreachable member",
			snap: unreachable("cluster-3"),
			key:  web, server: "127.0.0.13:53", got: ok,
			result: ResultUnknown, details: []string{"the member could not be read"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exps := Expect([]Snapshot{tt.snap}, &tt.key, "clusterset.local")
			if len(exps) != 1 {
				t.Fatalf("%d expectations, want 1", len(exps))
			}
			e := exps[0]
			if want := tt.key.Name + ".demo.svc.clusterset.local."; e.Query != want {
				t.Errorf("query %q, want %q", e.Query, want)
			}
			switch {
			case tt.want == "" && e.Want != nil:
				t.Errorf("want %v, expected none", e.Want)
			case tt.want != "" && (e.Want == nil || e.Want.String() != tt.want):
				t.Errorf("want %v, expected %s", e.Want, tt.want)
			}
			r := Verdict(e, tt.server, tt.got, tt.err)
			if r.Result != tt.result {
				t.Errorf("result %s (%s), want %s", r.Result, r.Detail, tt.result)
			}
			for _, d := range tt.details {
				if !strings.Contains(r.Detail, d) {
					t.Errorf("detail %q lacks %q", r.Detail, d)
				}
			}
		})
	}
}

func TestCheckReportCounts(t *testing.T) {
	r := NewCheckReport([]CheckResult{{Result: ResultOK}, {Result: ResultMismatch}, {Result: ResultUnreachable}, {Result: ResultUnknown}})
	if r.Mismatches != 1 || r.Unchecked != 2 {
		t.Errorf("mismatches %d unchecked %d, want 1 and 2", r.Mismatches, r.Unchecked)
	}
}
