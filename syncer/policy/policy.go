// Package policy decides, as pure functions, which of a member cluster's exports the syncer
// admits: member clusters are not trusted, so exports from system namespaces are refused, and
// one member may contribute at most a bounded number of exports, each with a bounded number
// of endpoints. Choices are deterministic, so that every syncer of the clusterset admits the
// same exports from the same member.
package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Reasons an export is refused, as set on its Valid condition and counted in the
// exports-refused metric. mcs-api defines no reason for either.
const (
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	ReasonExportLimitExceeded = "ExportLimitExceeded"
	// ReasonEndpointLimitExceeded is counted when an export's endpoints are cut to the
	// limit; the export itself stays valid.
	ReasonEndpointLimitExceeded = "EndpointLimitExceeded"
)

// DefaultDeniedNamespaces hold the control plane's own objects: their Services are never
// meant for other clusters. The syncer's own namespace is denied too.
var DefaultDeniedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Defaults of the per-member limits.
const (
	DefaultMaxExportsPerMember   = 2000
	DefaultMaxEndpointsPerExport = 5000
)

// Namespaces admits exports by namespace: never from a denied one and, when an allow list
// is given, only from an allowed one.
type Namespaces struct {
	denied, allowed map[string]bool
}

// NewNamespaces builds a namespace policy; an empty allowed list allows every namespace
// that is not denied.
func NewNamespaces(denied, allowed []string) Namespaces {
	set := func(names []string) map[string]bool {
		m := make(map[string]bool, len(names))
		for _, n := range names {
			if n = strings.TrimSpace(n); n != "" {
				m[n] = true
			}
		}
		return m
	}
	return Namespaces{denied: set(denied), allowed: set(allowed)}
}

// Admits reports whether exports from namespace ns may take part, and if not, why.
func (p Namespaces) Admits(ns string) (bool, string) {
	switch {
	case p.denied[ns]:
		return false, fmt.Sprintf("exports from namespace %s are refused by the syncer's namespace deny list", ns)
	case len(p.allowed) > 0 && !p.allowed[ns]:
		return false, fmt.Sprintf("namespace %s is not in the syncer's namespace allow list", ns)
	}
	return true, ""
}

// Export identifies one export of a member for AdmitOldest.
type Export struct {
	Key     string // "namespace/name"
	Created metav1.Time
}

// AdmitOldest returns the keys of the limit oldest exports (by creationTimestamp, ties by
// key): a member that floods the clusterset cannot displace exports it already had. A limit
// of zero or less admits everything.
func AdmitOldest(exports []Export, limit int) map[string]bool {
	sorted := slices.Clone(exports)
	if limit > 0 && len(sorted) > limit {
		slices.SortFunc(sorted, func(a, b Export) int {
			if !a.Created.Equal(&b.Created) {
				if a.Created.Before(&b.Created) {
					return -1
				}
				return 1
			}
			return cmp.Compare(a.Key, b.Key)
		})
		sorted = sorted[:limit]
	}
	admitted := make(map[string]bool, len(sorted))
	for _, e := range sorted {
		admitted[e.Key] = true
	}
	return admitted
}

// LimitEndpoints keeps at most limit endpoints of one export's source slices, taking slices
// in name order and endpoints in their order within a slice, and returns how many it left
// out. Slices are copied only when cut; inputs are never modified. A limit of zero or less
// keeps everything.
func LimitEndpoints(in []*discoveryv1.EndpointSlice, limit int) ([]*discoveryv1.EndpointSlice, int) {
	total := 0
	for _, s := range in {
		total += len(s.Endpoints)
	}
	if limit <= 0 || total <= limit {
		return in, 0
	}
	sorted := slices.Clone(in)
	slices.SortFunc(sorted, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	out := make([]*discoveryv1.EndpointSlice, 0, len(sorted))
	left := limit
	for _, s := range sorted {
		if left == 0 {
			break
		}
		if len(s.Endpoints) <= left {
			out = append(out, s)
			left -= len(s.Endpoints)
			continue
		}
		cut := s.DeepCopy()
		cut.Endpoints = cut.Endpoints[:left]
		out = append(out, cut)
		left = 0
	}
	return out, total - limit
}
