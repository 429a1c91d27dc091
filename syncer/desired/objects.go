package desired

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// DerivedService is the Service named name standing in for the import in a
// target cluster: type ClusterIP (headless for a Headless import), the merged
// ports with targetPort equal to port, no selector (endpoints arrive as
// mirrored slices) and the syncer's labels.
//
// Its IP families are the merged families that the target serves
// (targetFamilies, from its Service CIDRs), in merged order: one gives
// SingleStack of that family, so IPv6-only sources get an IPv6 VIP in an
// IPv4-primary dual-stack cluster; two give PreferDualStack. When no merged
// family is served, the families are left to the target's defaults (the
// apiserver would refuse the others; the import reports IPFamilyNotSupported).
// With targetFamilies unknown (nil), only a dual-stack merge asks for
// PreferDualStack.
func DerivedService(s *Service, name string, targetFamilies []corev1.IPFamily) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: s.Namespace,
			Labels: map[string]string{
				mcsv1alpha1.LabelServiceName: s.Name,
				ServiceImportedLabel:         "true",
				ManagedByLabel:               ManagerName,
			},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       s.SessionAffinity,
			SessionAffinityConfig: s.SessionAffinityConfig.DeepCopy(),
			InternalTrafficPolicy: clonePtr(s.InternalTrafficPolicy),
			TrafficDistribution:   clonePtr(s.TrafficDistribution),
		},
	}
	if s.Type == mcsv1alpha1.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	switch families := servedFamilies(s.IPFamilies, targetFamilies); {
	case targetFamilies == nil && len(s.IPFamilies) > 1:
		svc.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
	case targetFamilies == nil || len(families) == 0:
	case len(families) == 1:
		svc.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		svc.Spec.IPFamilies = families
	default:
		svc.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
		svc.Spec.IPFamilies = families
	}
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name:        p.Name,
			Protocol:    p.Protocol,
			AppProtocol: clonePtr(p.AppProtocol),
			Port:        p.Port,
			TargetPort:  intstr.FromInt32(p.Port),
		})
	}
	return svc
}

// servedFamilies returns the merged families the target serves, in merged order.
func servedFamilies(merged, target []corev1.IPFamily) []corev1.IPFamily {
	var out []corev1.IPFamily
	for _, f := range merged {
		if slices.Contains(target, f) {
			out = append(out, f)
		}
	}
	return out
}

// ServiceImport is the import of s in a target cluster whose derived Service
// is derived (as live, with its cluster IPs). A ClusterSetIP import's ips and
// ipFamilies are derived's clusterIPs, in order; a Headless import has no ips
// and the merged families (derived's when the sources name none). Labels and
// annotations are the exported ones plus the syncer's own, which win; the
// DerivedServiceAnnotation records derived's name. The status holds
// status.clusters; ImportStatus completes it.
func ServiceImport(s *Service, derived *corev1.Service) *mcsv1alpha1.ServiceImport {
	labels := maps.Clone(s.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagerName
	annotations := maps.Clone(s.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[DerivedServiceAnnotation] = derived.Name

	si := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.Name,
			Namespace:   s.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Spec: mcsv1alpha1.ServiceImportSpec{
			Type:                  s.Type,
			SessionAffinity:       s.SessionAffinity,
			SessionAffinityConfig: s.SessionAffinityConfig.DeepCopy(),
			InternalTrafficPolicy: clonePtr(s.InternalTrafficPolicy),
			TrafficDistribution:   clonePtr(s.TrafficDistribution),
		},
	}
	// spec.ports is required by the CRD schema: an import without ports
	// (possible when headless) must carry an empty list, not null.
	si.Spec.Ports = make([]mcsv1alpha1.ServicePort, 0, len(s.Ports))
	for _, p := range s.Ports {
		p.AppProtocol = clonePtr(p.AppProtocol)
		si.Spec.Ports = append(si.Spec.Ports, p)
	}
	switch {
	case s.Type == mcsv1alpha1.ClusterSetIP:
		si.Spec.IPs, si.Spec.IPFamilies = clusterIPs(derived)
	case len(s.IPFamilies) > 0:
		si.Spec.IPFamilies = slices.Clone(s.IPFamilies)
	default:
		si.Spec.IPFamilies = slices.Clone(derived.Spec.IPFamilies)
	}
	for _, c := range s.Clusters {
		si.Status.Clusters = append(si.Status.Clusters, mcsv1alpha1.ClusterStatus{Cluster: c})
	}
	return si
}

// clusterIPs returns a Service's allocated cluster IPs in order and their families.
func clusterIPs(svc *corev1.Service) ([]string, []corev1.IPFamily) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var families []corev1.IPFamily
	var out []string
	for _, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		if err != nil { // "None" or not yet allocated
			continue
		}
		out = append(out, ip)
		if addr.Is4() {
			families = append(families, corev1.IPv4Protocol)
		} else {
			families = append(families, corev1.IPv6Protocol)
		}
	}
	return out, families
}

// ImportStatus is the rest of an import's status in one target, given how the
// writer fared: status.endpointSliceObjects (Present when the import has
// mirrored slices in the cluster, else Absent) and the Ready condition:
//   - False, IPFamilyNotSupported: the target serves none of the merged
//     families (targetFamilies nil means unknown, which never reports this);
//   - Unknown, Pending: a ClusterSetIP import whose derived Service has no
//     cluster IP yet;
//   - False, Pending: some mirrored slices could not be written (slicesErr);
//   - True, Ready otherwise.
func ImportStatus(s *Service, derived *corev1.Service, targetFamilies []corev1.IPFamily, sliceCount int, slicesErr error) (mcsv1alpha1.EndpointSliceObjectsStatus, metav1.Condition) {
	objects := mcsv1alpha1.EndpointSliceObjectsAbsent
	if sliceCount > 0 {
		objects = mcsv1alpha1.EndpointSliceObjectsPresent
	}
	ready := func(status metav1.ConditionStatus, reason mcsv1alpha1.ServiceImportConditionReason, msg string) metav1.Condition {
		return metav1.Condition{Type: string(mcsv1alpha1.ServiceImportConditionReady), Status: status, Reason: string(reason),
			Message: truncate(msg, maxConditionMessage)}
	}
	ips, _ := clusterIPs(derived)
	switch {
	case targetFamilies != nil && len(s.IPFamilies) > 0 && len(servedFamilies(s.IPFamilies, targetFamilies)) == 0:
		return objects, ready(metav1.ConditionFalse, mcsv1alpha1.ServiceImportReasonIPFamilyNotSupported,
			fmt.Sprintf("the exported Services are %s; this cluster serves %s", joinFamilies(s.IPFamilies), joinFamilies(targetFamilies)))
	case s.Type == mcsv1alpha1.ClusterSetIP && len(ips) == 0:
		return objects, ready(metav1.ConditionUnknown, mcsv1alpha1.ServiceImportReasonPending,
			"waiting for the derived Service "+derived.Name+" to get a cluster IP")
	case slicesErr != nil:
		return objects, ready(metav1.ConditionFalse, mcsv1alpha1.ServiceImportReasonPending,
			"some mirrored EndpointSlices could not be written: "+slicesErr.Error())
	}
	return objects, ready(metav1.ConditionTrue, mcsv1alpha1.ServiceImportReasonReady, "the import and its endpoints are in place")
}

func joinFamilies(f []corev1.IPFamily) string {
	s := make([]string, len(f))
	for i, x := range f {
		s[i] = string(x)
	}
	return strings.Join(s, "+")
}
