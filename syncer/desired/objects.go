package desired

import (
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// DerivedService is the Service standing in for the import in a target
// cluster: type ClusterIP (headless for a Headless import), the merged ports
// with targetPort equal to port, no selector (endpoints arrive as mirrored
// slices) and the syncer's labels. It asks for PreferDualStack when any
// constituent Service is dual-stack, and otherwise leaves the IP families to
// the target cluster's defaults.
func DerivedService(s *Service) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DerivedServiceName(s.Name),
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
	for _, p := range s.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name:        p.Name,
			Protocol:    p.Protocol,
			AppProtocol: clonePtr(p.AppProtocol),
			Port:        p.Port,
			TargetPort:  intstr.FromInt32(p.Port),
		})
	}
	switch {
	case s.Type == mcsv1alpha1.Headless:
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	case len(s.IPFamilies) > 1:
		svc.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicyPreferDualStack)
	}
	return svc
}

// ServiceImport is the import of s in a target cluster. Its ips and ipFamilies
// are the clusterIPs of the live derived Service, in order; both stay empty
// for a Headless import or while derived is nil (not yet created). Labels and
// annotations are the exported ones plus the syncer's own, which win.
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
	annotations[DerivedServiceAnnotation] = DerivedServiceName(s.Name)

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
	if s.Type == mcsv1alpha1.ClusterSetIP && derived != nil {
		si.Spec.IPs, si.Spec.IPFamilies = clusterIPs(derived)
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
