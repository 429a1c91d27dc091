package desired

import (
	"encoding/json"
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
	tests := []struct {
		name string
		s    *Service
		want corev1.ServiceSpec
	}{
		{"ClusterSetIP", mergedService(nil), corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		}},
		{"Headless with affinity and traffic distribution", mergedService(func(s *Service) {
			s.Type = mcsv1alpha1.Headless
			s.SessionAffinity = corev1.ServiceAffinityClientIP
			s.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}}
			s.TrafficDistribution = ptrTo("PreferClose")
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}), corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", Ports: ports, SessionAffinity: corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo[int32](30)}},
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster), TrafficDistribution: ptrTo("PreferClose"),
		}},
		{"dual-stack constituents", mergedService(func(s *Service) {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
		}), corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, Ports: ports, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
			IPFamilyPolicy:        ptrTo(corev1.IPFamilyPolicyPreferDualStack),
		}},
		{"headless without ports", mergedService(func(s *Service) { s.Type, s.Ports = mcsv1alpha1.Headless, nil }), corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "None", SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DerivedService(tt.s)
			want := &corev1.Service{ObjectMeta: meta, Spec: tt.want}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("DerivedService =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestServiceImport(t *testing.T) {
	allocated := func(ips ...string) *corev1.Service {
		d := DerivedService(mergedService(nil))
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
		{"derived Service not created yet", mergedService(nil), nil, nil, nil},
		{"clusterIP not allocated yet", mergedService(nil), allocated(), nil, nil},
		{"headless", mergedService(func(s *Service) { s.Type = mcsv1alpha1.Headless }), allocated("None"), nil, nil},
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
	derived := DerivedService(s)
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
	si := ServiceImport(mergedService(func(s *Service) { s.Type, s.Ports = mcsv1alpha1.Headless, nil }), nil)
	b, err := json.Marshal(si.Spec)
	if err != nil {
		t.Fatal(err)
	}
	// The CRD requires spec.ports, so it must be an empty list rather than null.
	if !strings.Contains(string(b), `"ports":[]`) {
		t.Errorf("spec = %s, want \"ports\":[]", b)
	}
}
