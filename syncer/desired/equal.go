package desired

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	endpointsliceutil "k8s.io/endpointslice/util"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The helpers below tell a writer whether an existing object already holds
// what the syncer wants, comparing only the fields the syncer owns, with the
// apiserver's defaults applied. Server-set fields (clusterIP(s), ipFamilies,
// a defaulted ipFamilyPolicy, resourceVersion, ...) are ignored, so a resync
// of unchanged state makes no write.

// DerivedServiceEqual reports whether existing carries everything desired
// (from DerivedService) sets: its labels, no selector, the type and
// headlessness, the ports, session affinity and its config,
// internalTrafficPolicy, trafficDistribution and, when desired sets them, the
// ipFamilyPolicy and ipFamilies; and none of the fields that would steer
// traffic past the VIP (SteersOutside).
func DerivedServiceEqual(desired, existing *corev1.Service) bool {
	d, e := &desired.Spec, &existing.Spec
	return hasLabels(existing.Labels, desired.Labels) &&
		len(e.Selector) == 0 &&
		!SteersOutside(existing) &&
		e.Type == d.Type &&
		!NeedsRecreate(desired, existing) &&
		slices.EqualFunc(d.Ports, e.Ports, func(a, b corev1.ServicePort) bool {
			return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port &&
				a.TargetPort == b.TargetPort && stringPtrEqual(a.AppProtocol, b.AppProtocol)
		}) &&
		sessionAffinity(desired) == sessionAffinity(existing) &&
		clientIPTimeout(desired) == clientIPTimeout(existing) &&
		internalTrafficPolicy(desired) == internalTrafficPolicy(existing) &&
		stringPtrEqual(d.TrafficDistribution, e.TrafficDistribution) &&
		(d.IPFamilyPolicy == nil || (e.IPFamilyPolicy != nil && *e.IPFamilyPolicy == *d.IPFamilyPolicy)) &&
		(d.IPFamilies == nil || slices.Equal(d.IPFamilies, e.IPFamilies))
}

// SteersOutside reports whether a Service carries a field a derived Service never
// has and the shipped admission policy refuses: external IPs, a load balancer
// IP or source ranges, an external name. Someone who added one must not make
// every later update of ours fail, so the writer clears them.
func SteersOutside(svc *corev1.Service) bool {
	s := &svc.Spec
	return len(s.ExternalIPs) > 0 || s.LoadBalancerIP != "" || len(s.LoadBalancerSourceRanges) > 0 || s.ExternalName != ""
}

// NeedsRecreate reports whether existing must be deleted and created again to
// become desired: a Service cannot switch between headless and ClusterIP, nor
// change its primary IP family.
func NeedsRecreate(desired, existing *corev1.Service) bool {
	d, e := desired.Spec.IPFamilies, existing.Spec.IPFamilies
	return (desired.Spec.ClusterIP == corev1.ClusterIPNone) != (existing.Spec.ClusterIP == corev1.ClusterIPNone) ||
		(len(d) > 0 && len(e) > 0 && d[0] != e[0])
}

// ServiceImportEqual reports whether existing's labels, annotations and spec
// equal desired's (from ServiceImport). Labels and annotations must match
// exactly, since an exported label that is no longer exported must go away:
// writers should replace these maps rather than merge into them. The status
// is compared by ServiceImportStatusEqual, as it is a subresource.
func ServiceImportEqual(desired, existing *mcsv1alpha1.ServiceImport) bool {
	return maps.Equal(desired.Labels, existing.Labels) &&
		maps.Equal(desired.Annotations, existing.Annotations) &&
		apiequality.Semantic.DeepEqual(desired.Spec, existing.Spec)
}

// ServiceImportStatusEqual reports whether existing's status.clusters and
// status.endpointSliceObjects equal desired's, and whether existing holds each
// of desired's conditions with the same status, reason, message and observed
// generation (transition times are ignored; conditions of other types are not
// the syncer's).
func ServiceImportStatusEqual(desired, existing *mcsv1alpha1.ServiceImport) bool {
	for _, d := range desired.Status.Conditions {
		e := meta.FindStatusCondition(existing.Status.Conditions, d.Type)
		if e == nil || e.Status != d.Status || e.Reason != d.Reason || e.Message != d.Message || e.ObservedGeneration != d.ObservedGeneration {
			return false
		}
	}
	return slices.Equal(desired.Status.Clusters, existing.Status.Clusters) &&
		desired.Status.EndpointSliceObjects == existing.Status.EndpointSliceObjects
}

// EndpointSliceEqual reports whether existing carries desired's labels (from
// EndpointSlices), address type, ports (in any order) and endpoints. Endpoints are compared
// in order, as EndpointSlices writes them sorted; per endpoint, the
// addresses and hostname, then the EndpointSlice controller's own
// comparison of the remaining mirrored fields.
func EndpointSliceEqual(desired, existing *discoveryv1.EndpointSlice) bool {
	return hasLabels(existing.Labels, desired.Labels) &&
		desired.AddressType == existing.AddressType &&
		portKey(sortedPorts(desired.Ports)) == portKey(sortedPorts(existing.Ports)) &&
		slices.EqualFunc(desired.Endpoints, existing.Endpoints, func(a, b discoveryv1.Endpoint) bool {
			return slices.Equal(a.Addresses, b.Addresses) && stringPtrEqual(a.Hostname, b.Hostname) &&
				endpointsliceutil.EndpointsEqualBeyondHash(&a, &b)
		})
}

func sortedPorts(ports []discoveryv1.EndpointPort) []discoveryv1.EndpointPort {
	return slices.SortedFunc(slices.Values(ports), compareEndpointPorts)
}

// hasLabels reports whether have includes every key of want with its value.
func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if w, ok := have[k]; !ok || w != v {
			return false
		}
	}
	return true
}
