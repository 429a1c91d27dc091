package desired

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// storedService returns desired as an apiserver would store and return it: defaults
// and allocations applied, plus fields of other writers.
func storedService(desired *corev1.Service) *corev1.Service {
	svc := desired.DeepCopy()
	svc.ResourceVersion, svc.UID = "12", "u-1"
	svc.Labels["added-by-someone"] = "x"
	if svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
	}
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	if svc.Spec.IPFamilyPolicy == nil {
		svc.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
	}
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP && svc.Spec.SessionAffinityConfig == nil {
		svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(corev1.DefaultClientIPServiceAffinitySeconds)}}
	}
	return svc
}

func TestDerivedServiceEqual(t *testing.T) {
	desired := derivedService(mergedService(nil))
	tests := []struct {
		name     string
		desired  *corev1.Service
		mutate   func(*corev1.Service)
		want     bool
		recreate bool
	}{
		{"as stored", desired, func(*corev1.Service) {}, true, false},
		{"defaulted ClientIP timeout", derivedService(mergedService(func(s *Service) { s.SessionAffinity = corev1.ServiceAffinityClientIP })),
			func(*corev1.Service) {}, true, false},
		{"our label changed", desired, func(s *corev1.Service) { s.Labels[ServiceImportedLabel] = "false" }, false, false},
		{"our label removed", desired, func(s *corev1.Service) { delete(s.Labels, ManagedByLabel) }, false, false},
		{"selector added", desired, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web"} }, false, false},
		{"external IP added", desired, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1"} }, false, false},
		{"load balancer source ranges added", desired, func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"192.0.2.0/24"}
		}, false, false},
		{"type changed", desired, func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }, false, false},
		{"port number", desired, func(s *corev1.Service) { s.Spec.Ports[1].Port = 81 }, false, false},
		{"target port", desired, func(s *corev1.Service) { s.Spec.Ports[1].TargetPort = intstr.FromString("http") }, false, false},
		{"app protocol", desired, func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = nil }, false, false},
		{"port removed", desired, func(s *corev1.Service) { s.Spec.Ports = s.Spec.Ports[:1] }, false, false},
		{"session affinity", desired, func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }, false, false},
		{"internal traffic policy", desired, func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyLocal)
		}, false, false},
		{"traffic distribution", desired, func(s *corev1.Service) { s.Spec.TrafficDistribution = ptrTo("PreferClose") }, false, false},
		{"became headless", desired, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"} }, false, true},
		{"was headless", derivedService(mergedService(func(s *Service) { s.Type = mcsv1alpha1.Headless })), func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.9", []string{"10.96.0.9"}
		}, false, true},
		{"dual stack wanted", derivedService(mergedService(func(s *Service) {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		})), func(s *corev1.Service) { s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack) }, false, false},
		{"families as wanted", DerivedService(mergedService(nil), "d", []corev1.IPFamily{corev1.IPv4Protocol}),
			func(*corev1.Service) {}, true, false},
		{"IPv6 VIP wanted, IPv4 stored: a new primary family", DerivedService(mergedService(func(s *Service) {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}), "d", []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}), func(*corev1.Service) {}, false, true},
		{"secondary family wanted", DerivedService(mergedService(func(s *Service) {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}), "d", []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}), func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptrTo(corev1.IPFamilyPolicySingleStack)
		}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := storedService(tt.desired)
			tt.mutate(existing)
			if got := DerivedServiceEqual(tt.desired, existing); got != tt.want {
				t.Errorf("DerivedServiceEqual = %v, want %v", got, tt.want)
			}
			if got := NeedsRecreate(tt.desired, existing); got != tt.recreate {
				t.Errorf("NeedsRecreate = %v, want %v", got, tt.recreate)
			}
		})
	}
}

func TestServiceImportEqual(t *testing.T) {
	derived := storedService(derivedService(mergedService(nil)))
	desired := ServiceImport(mergedService(func(s *Service) { s.Labels = map[string]string{"tier": "web"} }), derived)
	tests := []struct {
		name       string
		mutate     func(*mcsv1alpha1.ServiceImport)
		want       bool
		wantStatus bool
	}{
		{"as stored", func(si *mcsv1alpha1.ServiceImport) {
			si.ResourceVersion = "3"
			si.Spec.Ports[0].AppProtocol = ptrTo(*si.Spec.Ports[0].AppProtocol) // equal value, other pointer
		}, true, true},
		{"stale exported label", func(si *mcsv1alpha1.ServiceImport) { si.Labels["old"] = "x" }, false, true},
		{"exported label value", func(si *mcsv1alpha1.ServiceImport) { si.Labels["tier"] = "db" }, false, true},
		{"annotation missing", func(si *mcsv1alpha1.ServiceImport) { delete(si.Annotations, DerivedServiceAnnotation) }, false, true},
		{"ips", func(si *mcsv1alpha1.ServiceImport) { si.Spec.IPs = []string{"10.96.0.21"} }, false, true},
		{"ports", func(si *mcsv1alpha1.ServiceImport) { si.Spec.Ports = si.Spec.Ports[1:] }, false, true},
		{"type", func(si *mcsv1alpha1.ServiceImport) { si.Spec.Type = mcsv1alpha1.Headless }, false, true},
		{"clusters", func(si *mcsv1alpha1.ServiceImport) { si.Status.Clusters = si.Status.Clusters[:1] }, true, false},
		{"endpointSliceObjects", func(si *mcsv1alpha1.ServiceImport) {
			si.Status.EndpointSliceObjects = mcsv1alpha1.EndpointSliceObjectsAbsent
		}, true, false},
		{"Ready transition time and other conditions ignored", func(si *mcsv1alpha1.ServiceImport) {
			si.Status.Conditions[0].LastTransitionTime = metav1.Now()
			si.Status.Conditions = append(si.Status.Conditions, metav1.Condition{Type: "SomeoneElses", Status: metav1.ConditionTrue})
		}, true, true},
		{"Ready status", func(si *mcsv1alpha1.ServiceImport) { si.Status.Conditions[0].Status = metav1.ConditionFalse }, true, false},
		{"Ready message", func(si *mcsv1alpha1.ServiceImport) { si.Status.Conditions[0].Message = "old" }, true, false},
		{"Ready generation", func(si *mcsv1alpha1.ServiceImport) { si.Status.Conditions[0].ObservedGeneration = 1 }, true, false},
		{"Ready missing", func(si *mcsv1alpha1.ServiceImport) { si.Status.Conditions = nil }, true, false},
	}
	desired.Status.EndpointSliceObjects = mcsv1alpha1.EndpointSliceObjectsPresent
	_, ready := ImportStatus(mergedService(nil), derived, nil, 1, nil)
	ready.ObservedGeneration = 2
	desired.Status.Conditions = []metav1.Condition{ready}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := desired.DeepCopy()
			tt.mutate(existing)
			if got := ServiceImportEqual(desired, existing); got != tt.want {
				t.Errorf("ServiceImportEqual = %v, want %v", got, tt.want)
			}
			if got := ServiceImportStatusEqual(desired, existing); got != tt.wantStatus {
				t.Errorf("ServiceImportStatusEqual = %v, want %v", got, tt.wantStatus)
			}
		})
	}
}

func TestEndpointSliceEqual(t *testing.T) {
	ports := []discoveryv1.EndpointPort{endpointPort("http", 8080), endpointPort("admin", 8081)}
	exports := []ClusterExport{clusterExport("cluster-1", 0, newService(withPorts(port("http", "TCP", 80), port("admin", "TCP", 81))),
		withSlices(sourceSlice("a", discoveryv1.AddressTypeIPv4, ports, ipv4s(1, 3)...)))}
	s, _ := Merge("default", "web", exports)
	desired := mirror(s, exports, 0)[0]
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   bool
	}{
		{"as stored", func(sl *discoveryv1.EndpointSlice) {
			sl.ResourceVersion = "9"
			sl.Labels["added-by-someone"] = "x"
			sl.Endpoints[0].TargetRef.ResourceVersion = "100"
		}, true},
		{"ports in another order", func(sl *discoveryv1.EndpointSlice) { sl.Ports[0], sl.Ports[1] = sl.Ports[1], sl.Ports[0] }, true},
		{"our label", func(sl *discoveryv1.EndpointSlice) { sl.Labels[mcsv1alpha1.LabelSourceCluster] = "cluster-2" }, false},
		{"address type", func(sl *discoveryv1.EndpointSlice) { sl.AddressType = discoveryv1.AddressTypeIPv6 }, false},
		{"port number", func(sl *discoveryv1.EndpointSlice) { sl.Ports[0].Port = ptrTo[int32](1) }, false},
		{"port removed", func(sl *discoveryv1.EndpointSlice) { sl.Ports = sl.Ports[:1] }, false},
		{"address", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[1].Addresses = []string{"10.9.9.9"} }, false},
		{"hostname", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[1].Hostname = ptrTo("h") }, false},
		{"ready", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[2].Conditions.Ready = ptrTo(false) }, false},
		{"terminating", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[2].Conditions.Terminating = nil }, false},
		{"zone", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[0].Zone = ptrTo("zone-b") }, false},
		{"node", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[0].NodeName = nil }, false},
		{"target", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints[0].TargetRef.Name = "other" }, false},
		{"endpoint removed", func(sl *discoveryv1.EndpointSlice) { sl.Endpoints = sl.Endpoints[1:] }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			existing := desired.DeepCopy()
			tt.mutate(existing)
			if got := EndpointSliceEqual(desired, existing); got != tt.want {
				t.Errorf("EndpointSliceEqual = %v, want %v", got, tt.want)
			}
		})
	}
}
