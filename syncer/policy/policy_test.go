package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespacesAdmits(t *testing.T) {
	for _, tc := range []struct {
		name            string
		denied, allowed []string
		ns              string
		want            bool
		msg             string
	}{
		{"default deny list refuses kube-system", DefaultDeniedNamespaces, nil, "kube-system", false, "deny list"},
		{"default deny list refuses kube-node-lease", DefaultDeniedNamespaces, nil, "kube-node-lease", false, "deny list"},
		{"default deny list admits others", DefaultDeniedNamespaces, nil, "default", true, ""},
		{"own namespace added to the deny list", append(slices.Clone(DefaultDeniedNamespaces), "clusterset-system"), nil, "clusterset-system", false, "deny list"},
		{"allow list admits listed", nil, []string{"web", " shop "}, "shop", true, ""},
		{"allow list refuses others", nil, []string{"web"}, "default", false, "allow list"},
		{"deny beats allow", []string{"web"}, []string{"web"}, "web", false, "deny list"},
		{"empty entries ignored", []string{"", " "}, []string{""}, "default", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := NewNamespaces(tc.denied, tc.allowed).Admits(tc.ns)
			if ok != tc.want || !strings.Contains(msg, tc.msg) || (ok && msg != "") {
				t.Errorf("Admits(%q) = %v, %q; want %v with %q", tc.ns, ok, msg, tc.want, tc.msg)
			}
		})
	}
}

func TestAdmitOldest(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Unix(int64(s), 0)) }
	exports := []Export{{"ns/d", at(4)}, {"ns/b", at(2)}, {"ns/c", at(2)}, {"ns/a", at(3)}, {"ns/e", at(1)}}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
		{-1, []string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
		{5, []string{"ns/a", "ns/b", "ns/c", "ns/d", "ns/e"}},
		{1, []string{"ns/e"}},
		{2, []string{"ns/b", "ns/e"}}, // ties at 2 s broken by key
		{3, []string{"ns/b", "ns/c", "ns/e"}},
	} {
		t.Run(fmt.Sprint(tc.limit), func(t *testing.T) {
			got := AdmitOldest(exports, tc.limit)
			var keys []string
			for k := range got {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, tc.want) {
				t.Errorf("AdmitOldest(limit %d) = %v, want %v", tc.limit, keys, tc.want)
			}
		})
	}
	// Order of the input does not matter, and the input is not reordered.
	reversed := slices.Clone(exports)
	slices.Reverse(reversed)
	before := slices.Clone(reversed)
	if a, b := AdmitOldest(exports, 2), AdmitOldest(reversed, 2); len(a) != 2 || !a["ns/e"] || !b["ns/e"] || !b["ns/b"] {
		t.Errorf("input order changed the result: %v vs %v", a, b)
	}
	if !slices.Equal(before, reversed) {
		t.Error("input reordered")
	}
}

func TestLimitEndpoints(t *testing.T) {
	slice := func(name string, n int) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for i := range n {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}})
		}
		return s
	}
	count := func(in []*discoveryv1.EndpointSlice) string {
		var parts []string
		for _, s := range in {
			parts = append(parts, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
		}
		return strings.Join(parts, ",")
	}
	for _, tc := range []struct {
		name    string
		in      []*discoveryv1.EndpointSlice
		limit   int
		want    string
		dropped int
	}{
		{"no limit", []*discoveryv1.EndpointSlice{slice("b", 3), slice("a", 3)}, 0, "b:3,a:3", 0},
		{"under the limit, untouched", []*discoveryv1.EndpointSlice{slice("b", 3), slice("a", 3)}, 6, "b:3,a:3", 0},
		{"cut in name order", []*discoveryv1.EndpointSlice{slice("b", 3), slice("a", 3)}, 4, "a:3,b:1", 2},
		{"whole slices left out", []*discoveryv1.EndpointSlice{slice("c", 2), slice("b", 3), slice("a", 3)}, 3, "a:3", 5},
		{"none", nil, 3, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lens := count(tc.in)
			got, dropped := LimitEndpoints(tc.in, tc.limit)
			if count(got) != tc.want || dropped != tc.dropped {
				t.Errorf("LimitEndpoints = %s (dropped %d), want %s (dropped %d)", count(got), dropped, tc.want, tc.dropped)
			}
			if count(tc.in) != lens {
				t.Errorf("input modified: %s, was %s", count(tc.in), lens)
			}
		})
	}
}
