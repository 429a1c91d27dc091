package inspect

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
)

// DNS response codes the check tells apart.
const (
	NoError  = "NOERROR"
	NXDomain = "NXDOMAIN"
)

// Check results.
const (
	ResultOK          = "ok"
	ResultMismatch    = "mismatch"
	ResultUnreachable = "unreachable" // the DNS server did not answer
	ResultUnknown     = "unknown"     // nothing to compare: the member or its DNS address is unknown
)

// Answer is a DNS answer to the A and AAAA questions of one name: the response code of the A
// question and the addresses of both.
type Answer struct {
	Rcode     string   `json:"rcode"`
	Addresses []string `json:"addresses,omitempty"`
}

func (a Answer) String() string {
	if a.Rcode == NoError {
		if len(a.Addresses) == 0 {
			return "no addresses"
		}
		return strings.Join(a.Addresses, ",")
	}
	return a.Rcode
}

// Expectation is what one member's CoreDNS must answer for one service, from the member's own
// objects.
type Expectation struct {
	Key
	Cluster string `json:"cluster"`
	Member  string `json:"member"`
	// Query is the name asked, <name>.<namespace>.svc.<zone>.
	Query string `json:"query"`
	// Want is nil when the member could not be read.
	Want *Answer `json:"want,omitempty"`
	// From says which objects Want comes from.
	From string `json:"from,omitempty"`
	// Disagreements are contradictions among the member's objects alone.
	Disagreements []string `json:"disagreements,omitempty"`
}

// Expect lists, for every member and every service of the report (or only the one given), the
// answer its CoreDNS must give in zone:
//   - ClusterSetIP: the cluster IPs of the import's derived Service (what kube-proxy routes),
//     which the import's spec.ips must equal;
//   - Headless: the addresses of the ready endpoints of its EndpointSlices; NXDOMAIN with none;
//   - no ServiceImport: NXDOMAIN.
func Expect(snaps []Snapshot, only *Key, zone string) []Expectation {
	var out []Expectation
	for _, k := range serviceKeys(snaps, only) {
		for i := range snaps {
			out = append(out, expect(&snaps[i], k, zone))
		}
	}
	return out
}

func expect(s *Snapshot, k Key, zone string) Expectation {
	e := Expectation{Key: k, Cluster: s.Label(), Member: s.Member, Query: fmt.Sprintf("%s.%s.svc.%s.", k.Name, k.Namespace, strings.TrimSuffix(zone, "."))}
	if !s.Reachable() {
		return e
	}
	si := s.serviceImport(k)
	switch {
	case si == nil:
		e.Want, e.From = &Answer{Rcode: NXDomain}, "no ServiceImport"
	case si.Spec.Type == mcsv1alpha1.Headless:
		addrs := readyAddresses(s.slicesOf(k))
		e.Want, e.From = &Answer{Rcode: NoError, Addresses: addrs}, "the ready endpoints of its EndpointSlices"
		if len(addrs) == 0 {
			e.Want.Rcode = NXDomain
		}
	default:
		ips := sortedAddresses(si.Spec.IPs)
		e.Want, e.From = &Answer{Rcode: NoError, Addresses: ips}, "the ServiceImport's spec.ips"
		name := si.Annotations[desired.DerivedServiceAnnotation]
		if derived := s.derivedService(k.Namespace, name); derived != nil {
			want := sortedAddresses(clusterIPs(derived))
			e.Want.Addresses, e.From = want, fmt.Sprintf("the cluster IPs of the derived Service %s", name)
			if !slices.Equal(ips, want) {
				e.Disagreements = append(e.Disagreements, fmt.Sprintf("the ServiceImport's spec.ips %s differ from the cluster IPs %s of its derived Service %s",
					Answer{NoError, ips}, Answer{NoError, want}, name))
			}
		}
	}
	return e
}

// readyAddresses are the addresses the CoreDNS plugin answers for a headless service: those of
// ready endpoints in IPv4 and IPv6 slices.
func readyAddresses(slices []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, es := range slices {
		if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for _, ep := range es.Endpoints {
			if endpointReady(ep) {
				out = append(out, ep.Addresses...)
			}
		}
	}
	return sortedAddresses(out)
}

// sortedAddresses canonicalises, sorts and deduplicates addresses, so that answers compare as
// sets; what does not parse is kept as written.
func sortedAddresses(addrs []string) []string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		if ip, err := netip.ParseAddr(a); err == nil {
			a = ip.String()
		}
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// CheckResult is one member's answer for one service, compared.
type CheckResult struct {
	Expectation
	// Server is the DNS server asked, host:port; empty when none is known.
	Server string  `json:"server,omitempty"`
	Got    *Answer `json:"got,omitempty"`
	// Result is ok, mismatch, unreachable or unknown.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Verdict compares what server answered (got, or the query's error) with the expectation.
func Verdict(e Expectation, server string, got *Answer, queryErr error) CheckResult {
	r := CheckResult{Expectation: e, Server: server}
	if got != nil {
		g := *got
		g.Addresses = sortedAddresses(g.Addresses)
		r.Got = &g
	}
	switch {
	case e.Want == nil:
		r.Result, r.Detail = ResultUnknown, "the member could not be read"
	case server == "":
		r.Result, r.Detail = ResultUnknown, "no DNS address known: give --dns "+e.Member+"=HOST:PORT"
	case queryErr != nil:
		r.Result, r.Detail = ResultUnreachable, queryErr.Error()
	case r.Got == nil:
		r.Result, r.Detail = ResultUnknown, "not asked"
	case r.Got.Rcode != e.Want.Rcode || !slices.Equal(r.Got.Addresses, e.Want.Addresses):
		r.Result, r.Detail = ResultMismatch, fmt.Sprintf("answers %s, want %s (%s)", r.Got, e.Want, e.From)
	default:
		r.Result = ResultOK
	}
	// The objects contradicting each other is a mismatch whatever DNS answers, or whether it does.
	if len(e.Disagreements) > 0 {
		details := e.Disagreements
		if r.Detail != "" {
			details = append([]string{r.Detail}, details...)
		}
		r.Result, r.Detail = ResultMismatch, strings.Join(details, "; ")
	}
	return r
}

// CheckReport is every comparison, and how many disagree or could not be made.
type CheckReport struct {
	Results    []CheckResult `json:"results"`
	Mismatches int           `json:"mismatches"`
	// Unchecked counts results that are unreachable or unknown.
	Unchecked int `json:"unchecked"`
}

// NewCheckReport counts the results.
func NewCheckReport(results []CheckResult) CheckReport {
	r := CheckReport{Results: results}
	if r.Results == nil {
		r.Results = []CheckResult{}
	}
	for _, res := range results {
		switch res.Result {
		case ResultMismatch:
			r.Mismatches++
		case ResultUnreachable, ResultUnknown:
			r.Unchecked++
		}
	}
	return r
}
