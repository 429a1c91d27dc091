package desired

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// Builders of source objects as an apiserver returns them (defaults applied).

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type svcOpt func(*corev1.Service)

func newService(opts ...svcOpt) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			ClusterIP:             "10.96.0.10",
			ClusterIPs:            []string{"10.96.0.10"},
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:                 []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: ptrTo(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func withType(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }

func headless() svcOpt {
	return func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
	}
}

func withPorts(ports ...corev1.ServicePort) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}

func port(name string, proto corev1.Protocol, number int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: number}
}

func withFamilies(f ...corev1.IPFamily) svcOpt {
	return func(s *corev1.Service) { s.Spec.IPFamilies = f }
}

func clientIP(timeout int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(timeout)}}
	}
}

type exportOpt func(*ClusterExport)

// clusterExport is cluster id's export of "web", created age minutes after epoch.
func clusterExport(id string, age int, svc *corev1.Service, opts ...exportOpt) ClusterExport {
	e := ClusterExport{
		ClusterID: id,
		Export: &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "web", Generation: 3,
			CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Minute)),
		}},
		Service: svc,
	}
	for _, o := range opts {
		o(&e)
	}
	return e
}

func withSlices(sl ...*discoveryv1.EndpointSlice) exportOpt {
	return func(e *ClusterExport) { e.Slices = sl }
}

func withdrawn() exportOpt { return func(e *ClusterExport) { e.Withdrawn = true } }

func exportedLabels(l map[string]string) exportOpt {
	return func(e *ClusterExport) { e.Export.Spec.ExportedLabels = l }
}

func exportedAnnotations(a map[string]string) exportOpt {
	return func(e *ClusterExport) { e.Export.Spec.ExportedAnnotations = a }
}

// sourceSlice is a slice as the EndpointSlice controller writes it for "web".
func sourceSlice(name string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: name, ResourceVersion: "42",
			Labels: map[string]string{
				discoveryv1.LabelServiceName: "web",
				discoveryv1.LabelManagedBy:   "endpointslice-controller.k8s.io",
			},
		},
		AddressType: at,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func endpointPort(name string, number int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptrTo(name), Protocol: ptrTo(corev1.ProtocolTCP), Port: ptrTo(number)}
}

// podEndpoint is a ready endpoint of pod name at ip.
func podEndpoint(ip, name string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{ip},
		Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true), Serving: ptrTo(true), Terminating: ptrTo(false)},
		NodeName:   ptrTo("node-1"),
		Zone:       ptrTo("zone-a"),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7"},
	}
}

func conditionOf(conds []metav1.Condition, t mcsv1alpha1.ServiceExportConditionType) metav1.Condition {
	for _, c := range conds {
		if c.Type == string(t) {
			return c
		}
	}
	return metav1.Condition{}
}

// mirror is EndpointSlices into cluster-1 under the seed name, with no filter
// beyond the fixed ranges.
func mirror(s *Service, exports []ClusterExport, maxEndpoints int) []*discoveryv1.EndpointSlice {
	out, _ := EndpointSlices(s, exports, SliceOptions{DerivedName: DerivedServiceName(s.Name), LocalCluster: "cluster-1", MaxEndpoints: maxEndpoints})
	return out
}

// derivedService is DerivedService under the seed name, into a cluster of unknown families.
func derivedService(s *Service) *corev1.Service {
	return DerivedService(s, DerivedServiceName(s.Name), nil)
}
