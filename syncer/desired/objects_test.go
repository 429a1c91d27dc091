package desired

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func mergedService(mod func(*Service)) *Service {
	s := &Service{
		Namespace: "default", Name: "web-service", Type: mcsv1alpha1.ClusterSetIP,
		Ports: []mcsv1alpha1.ServicePort{
			{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, AppProtocol: ptrTo("kubernetes.io/h2c")},
			{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
		},
		SessionAffinity:       corev1.ServiceAffinityNone,
		InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
		Clusters:              []string{"cluster-1", "cluster-2"},
		Winner:                "cluster-1",
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func TestDerivedService(t *testing.T) {
	labels := map[string]string{
		"multicluster.kubernetes.io/service-name":     "web-service",
		"multicluster.kubernetes.io/service-imported": "true",
		"app.kubernetes.io/managed-by":                "clusterset-syncer",
	}
	meta := metav1.ObjectMeta{Name: "derived-435094621", Namespace: "default", Labels: labels}
	ports := []corev1.ServicePort{
		{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9090), AppProtocol: ptrTo("kubernetes.io/h2c")},
		{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(80)},
	}
	v4, v6 := corev1.IPv4Protocol, corev1.IPv6Protocol
	dual := []corev1.IPFamily{v4, v6}
	base := func(mod func(*corev1.ServiceSpec)) corev1.ServiceSpec {
		spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster)}
		mod(&spec)
		return spec
	}
	families := func(policy corev1.IPFamilyPolicy, f ...corev1.IPFamily) func(*corev1.ServiceSpec) {
		return func(s *corev1.ServiceSpec) { s.IPFamilyPolicy, s.IPFamilies = ptrTo(policy), f }
	}
	withMerged := func(f ...corev1.IPFamily) *Service { return mergedService(func(s *Service) { s.IPFamilies = f }) }
	tests := []struct {
		name   string
		s      *Service
		target []corev1.IPFamily // nil: unknown
		want   corev1.ServiceSpec
	}{
		{"IPv4 sources, IPv4 target", withMerged(v4), []corev1.IPFamily{v4}, base(families(corev1.IPFamilyPolicySingleStack, v4))},
		{"IPv6 sources, IPv4-primary dual-stack target: an IPv6 VIP", withMerged(v6), dual, base(families(corev1.IPFamilyPolicySingleStack, v6))},
		{"dual-stack sources, IPv6-first, dual-stack target", withMerged(v6, v4), dual, base(families(corev1.IPFamilyPolicyPreferDualStack, v6, v4))},
		{"dual-stack sources, IPv4-only target: only what it serves", withMerged(v6, v4), []corev1.IPFamily{v4}, base(families(corev1.IPFamilyPolicySingleStack, v4))},
		{"IPv6 sources, IPv4-only target: the target's defaults, which it accepts", withMerged(v6), []corev1.IPFamily{v4}, base(func(*corev1.ServiceSpec) {})},
		{"no source families, known target", withMerged(), dual, base(func(*corev1.ServiceSpec) {})},
		{"IPv6 sources, unknown target", withMerged(v6), nil, base(func(*corev1.ServiceSpec) {})},
		{"ClusterSetIP", mergedService(nil), nil, corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		}},
		{"Headless with affinity and traffic distribution", mergedService(func(s *Service) {
			s.Type = mcsv1alpha1.Headless
			s.SessionAffinity = corev1.ServiceAffinityClientIP
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}}
			s.TrafficDistribution = ptrTo("PreferClose")
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}), dual, corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", Ports: ports, SessionAffinity: corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}},
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster), TrafficDistribution: ptrTo("PreferClose"),
			IPFamilyPolicy: ptrTo(corev1.IPFamilyPolicyPreferDualStack), IPFamilies: dual,
		}},
		{"dual-stack constituents, unknown target", mergedService(func(s *Service) {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}), nil, corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        ptrTo(corev1.IPFamilyPolicyPreferDualStack),
		}},
		{"headless without ports", mergedService(func(s *Service) { s.Type, s.Ports = mcsv1alpha1.Headless, nil }), nil, corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DerivedService(tt.s, "derived-435094621", tt.target)
			want := &corev1.Service{ObjectMeta: meta, Spec: tt.want}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("DerivedService =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestServiceImport(t *testing.T) {
	allocated := func(ips ...string) *corev1.Service {
		d := derivedService(mergedService(nil))
		d.Spec.ClusterIPs = ips
		if len(ips) > 0 {
			d.Spec.ClusterIP = ips[0]
		}
		return d
	}
	tests := []struct {
		name         string
		s            *Service
		derived      *corev1.Service
		wantIPs      []string
		wantFamilies []corev1.IPFamily
	}{
		{"single stack", mergedService(nil), allocated("10.96.0.20"), []string{"10.96.0.20"}, []corev1.IPFamily{corev1.IPv4Protocol}},
		{"dual stack in the derived Service's order", mergedService(nil), allocated("fd00::20", "10.96.0.20"),
			[]string{"fd00::20", "10.96.0.20"}, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}},
		{"clusterIP not allocated yet", mergedService(nil), allocated(), nil, nil},
		{"headless carries the merged families", mergedService(func(s *Service) {
			s.Type, s.IPFamilies = mcsv1alpha1.Headless, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}), allocated("None"), nil, []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}},
		{"headless without source families takes the derived Service's", mergedService(func(s *Service) {
			s.Type, s.IPFamilies = mcsv1alpha1.Headless, nil
		}), func() *corev1.Service {
			d := allocated("None")
			d.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			return d
		}(), nil, []corev1.IPFamily{corev1.IPv4Protocol}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			si := ServiceImport(tt.s, tt.derived)
			if !equality.Semantic.DeepEqual(si.Spec.IPs, tt.wantIPs) || !equality.Semantic.DeepEqual(si.Spec.IPFamilies, tt.wantFamilies) {
				t.Errorf("ips %v families %v, want %v %v", si.Spec.IPs, si.Spec.IPFamilies, tt.wantIPs, tt.wantFamilies)
			}
			if si.Spec.Type != tt.s.Type {
				t.Errorf("type %s, want %s", si.Spec.Type, tt.s.Type)
			}
			if a := si.Annotations[DerivedServiceAnnotation]; a != tt.derived.Name {
				t.Errorf("derived-service annotation %q, want the derived Service's name %q", a, tt.derived.Name)
			}
		})
	}
}

func TestServiceImportFields(t *testing.T) {
	s := mergedService(func(s *Service) {
		s.SessionAffinity = corev1.ServiceAffinityClientIP
		s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}}
		s.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyLocal)
		s.TrafficDistribution = ptrTo("PreferClose")
		// Exported metadata may not override the syncer's own keys.
		s.Labels = map[string]string{"tier": "web", ManagedByLabel: "someone-else"}
		s.Annotations = map[string]string{"owner": "team-a", DerivedServiceAnnotation: "derived-1"}
	})
	want := &mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-service", Namespace: "default",
			Labels:      map[string]string{"tier": "web", "app.kubernetes.io/managed-by": "clusterset-syncer"},
			Annotations: map[string]string{"owner": "team-a", "multicluster.kubernetes.io/derived-service": "derived-435094621"},
		},
		Spec: mcsv1alpha1.ServiceImportSpec{
			Type: mcsv1alpha1.ClusterSetIP,
			Ports: []mcsv1alpha1.ServicePort{
				{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, AppProtocol: ptrTo("kubernetes.io/h2c")},
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80},
			},
			IPs:                   []string{"10.96.0.20"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			SessionAffinity:       corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}},
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyLocal),
			TrafficDistribution:   ptrTo("PreferClose"),
		},
		Status: mcsv1alpha1.ServiceImportStatus{Clusters: []mcsv1alpha1.ClusterStatus{{Cluster: "cluster-1"}, {Cluster: "cluster-2"}}},
	}
	derived := derivedService(s)
	derived.Spec.ClusterIP, derived.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
	got := ServiceImport(s, derived)
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("ServiceImport =\n%+v\nwant\n%+v", got, want)
	}
	*got.Spec.Ports[0].AppProtocol = "changed"
	got.Labels["tier"] = "changed"
	if *s.Ports[0].AppProtocol != "kubernetes.io/h2c" || s.Labels["tier"] != "web" {
		t.Errorf("the ServiceImport aliases the merged service")
	}
}

func TestServiceImportWithoutPorts(t *testing.T) {
	s := mergedService(func(s *Service) { s.Type, s.Ports = mcsv1alpha1.Headless, nil })
	si := ServiceImport(s, derivedService(s))
	b, err := json.Marshal(si.Spec)
	if err != nil {
		t.Fatal(err)
	}
	// The CRD requires spec.ports, so it must be an empty list rather than null.
	if !strings.Contains(string(b), `"ports":[]`) {
		t.Errorf("spec = %s, want \"ports\":[]", b)
	}
}

func TestImportStatus(t *testing.T) {
	v4, v6 := corev1.IPv4Protocol, corev1.IPv6Protocol
	allocated := derivedService(mergedService(nil))
	allocated.Spec.ClusterIP, allocated.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"}
	unallocated := derivedService(mergedService(nil))
	headless := mergedService(func(s *Service) { s.Type = mcsv1alpha1.Headless })
	headlessDerived := derivedService(headless)
	headlessDerived.Spec.ClusterIP = corev1.ClusterIPNone
	v6only := mergedService(func(s *Service) { s.IPFamilies = []corev1.IPFamily{v6} })
	tests := []struct {
		name        string
		s           *Service
		derived     *corev1.Service
		target      []corev1.IPFamily
		slices      int
		err         error
		wantObjects mcsv1alpha1.EndpointSliceObjectsStatus
		wantStatus  metav1.ConditionStatus
		wantReason  mcsv1alpha1.ServiceImportConditionReason
	}{
		{"ready", mergedService(nil), allocated, []corev1.IPFamily{v4}, 2, nil, "Present", metav1.ConditionTrue, "Ready"},
		{"ready without endpoints", mergedService(nil), allocated, nil, 0, nil, "Absent", metav1.ConditionTrue, "Ready"},
		{"headless needs no IP", headless, headlessDerived, []corev1.IPFamily{v4}, 1, nil, "Present", metav1.ConditionTrue, "Ready"},
		{"no cluster IP yet", mergedService(nil), unallocated, nil, 1, nil, "Present", metav1.ConditionUnknown, "Pending"},
		{"slices refused", mergedService(nil), allocated, nil, 1, errors.New("exceeded quota"), "Present", metav1.ConditionFalse, "Pending"},
		{"IPv6-only sources, IPv4-only target", v6only, allocated, []corev1.IPFamily{v4}, 1, nil, "Present", metav1.ConditionFalse, "IPFamilyNotSupported"},
		{"IPv6-only sources, dual-stack target", v6only, allocated, []corev1.IPFamily{v4, v6}, 1, nil, "Present", metav1.ConditionTrue, "Ready"},
		{"IPv6-only sources, unknown target", v6only, allocated, nil, 1, nil, "Present", metav1.ConditionTrue, "Ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects, ready := ImportStatus(tt.s, tt.derived, tt.target, tt.slices, tt.err)
			if objects != tt.wantObjects || ready.Type != "Ready" || ready.Status != tt.wantStatus ||
				ready.Reason != string(tt.wantReason) || ready.Message == "" {
				t.Errorf("ImportStatus = %s, %+v; want %s, Ready=%s/%s with a message", objects, ready, tt.wantObjects, tt.wantStatus, tt.wantReason)
			}
			if tt.err != nil && !strings.Contains(ready.Message, tt.err.Error()) {
				t.Errorf("Ready message %q does not carry the error", ready.Message)
			}
		})
	}
}
