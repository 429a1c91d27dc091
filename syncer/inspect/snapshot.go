// Package inspect builds the reports of `kubectl clusterset` from what was read from every
// member of a clusterset: each exported service across the members (Status), each member and
// its syncer (Members), and what each member's CoreDNS must answer (Expect, Verdict). These are
// pure functions over API objects; reading the members and printing the reports happen
// elsewhere, so that every rule here is table-tested.
package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// Key names one exported service.
type Key struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// ParseKey reads NAMESPACE/NAME, both DNS labels as Service names and namespaces are.
func ParseKey(s string) (Key, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || strings.Contains(name, "/") {
		return Key{}, fmt.Errorf("%q: want NAMESPACE/NAME", s)
	}
	for _, part := range []string{ns, name} {
		if errs := validation.IsDNS1123Label(part); len(errs) > 0 {
			return Key{}, fmt.Errorf("%q: %q is not a valid namespace or Service name: %s", s, part, strings.Join(errs, "; "))
		}
	}
	return Key{Namespace: ns, Name: name}, nil
}

// Snapshot is what was read from one member cluster.
type Snapshot struct {
	// Member names the member as the user gave it: a kubeconfig context or file.
	Member string
	// Unreachable says why the member could not be read; empty when it answered.
	Unreachable string
	// ClusterID and ClusterSet are its ClusterProperties; empty when unset or unknown.
	ClusterID, ClusterSet string
	// Namespaces lists the member's namespaces; nil when they could not be listed.
	Namespaces []string
	Exports    []mcsv1alpha1.ServiceExport
	Imports    []mcsv1alpha1.ServiceImport
	// DerivedServices are the Services labelled as derived by the syncer.
	DerivedServices []corev1.Service
	// Slices are the EndpointSlices labelled with an MCS service name: the mirrored ones, and
	// any other that the CoreDNS plugin reads too.
	Slices []discoveryv1.EndpointSlice
	// Heartbeat is the syncer's heartbeat Lease; nil when there is none.
	Heartbeat *coordinationv1.Lease
	// Syncer is the syncer's Deployment; nil when there is none.
	Syncer *appsv1.Deployment
	// KubeDNS is host:port of the member's kube-dns Service, when read and present.
	KubeDNS string
	// Errors lists what could not be read from a member that answered, one line each.
	Errors []string
}

// Label is how reports name the member: its cluster ID, or the member's name while the ID is
// unknown.
func (s *Snapshot) Label() string { return cmp.Or(s.ClusterID, s.Member) }

// Reachable reports whether the member answered.
func (s *Snapshot) Reachable() bool { return s.Unreachable == "" }

// namespace reports whether the member has namespace ns, and whether that is known.
func (s *Snapshot) namespace(ns string) (present, known bool) {
	if s.Namespaces == nil {
		return false, false
	}
	return slices.Contains(s.Namespaces, ns), true
}

func (s *Snapshot) export(k Key) *mcsv1alpha1.ServiceExport {
	for i := range s.Exports {
		if e := &s.Exports[i]; e.Namespace == k.Namespace && e.Name == k.Name {
			return e
		}
	}
	return nil
}

func (s *Snapshot) serviceImport(k Key) *mcsv1alpha1.ServiceImport {
	for i := range s.Imports {
		if si := &s.Imports[i]; si.Namespace == k.Namespace && si.Name == k.Name {
			return si
		}
	}
	return nil
}

func (s *Snapshot) derivedService(namespace, name string) *corev1.Service {
	for i := range s.DerivedServices {
		if svc := &s.DerivedServices[i]; svc.Namespace == namespace && svc.Name == name {
			return svc
		}
	}
	return nil
}

// slices returns the member's EndpointSlices of service k.
func (s *Snapshot) slicesOf(k Key) []discoveryv1.EndpointSlice {
	var out []discoveryv1.EndpointSlice
	for _, es := range s.Slices {
		if es.Namespace == k.Namespace && es.Labels[mcsv1alpha1.LabelServiceName] == k.Name {
			out = append(out, es)
		}
	}
	return out
}

// serviceKeys are the services a report covers: only, when given; else every service some
// reachable member exports or imports.
func serviceKeys(snaps []Snapshot, only *Key) []Key {
	if only != nil {
		return []Key{*only}
	}
	seen := map[Key]bool{}
	for _, s := range snaps {
		for _, e := range s.Exports {
			seen[Key{e.Namespace, e.Name}] = true
		}
		for _, si := range s.Imports {
			seen[Key{si.Namespace, si.Name}] = true
		}
	}
	keys := make([]Key, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b Key) int { return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name)) })
	return keys
}

// importClusters lists the exporting cluster IDs an import records.
func importClusters(si *mcsv1alpha1.ServiceImport) []string {
	var out []string
	for _, c := range si.Status.Clusters {
		out = append(out, c.Cluster)
	}
	return out
}

// endpointReady is the CoreDNS plugin's and kube-proxy's reading: an unset ready counts as ready.
func endpointReady(ep discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}
