package source

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
)

func trimmed[T any](obj *T, transform func(any) (any, error)) *T {
	out, _ := transform(obj)
	return out.(*T)
}

// TestTrimmedSourcesMirrorTheSame: the merge, the conditions and the mirrored slices of
// trimmed member objects are those of the objects as served, for a remote member and for a
// target's own endpoints.
func TestTrimmedSourcesMirrorTheSame(t *testing.T) {
	svc := realisticService(7)
	svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	svc.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](600)}}
	svc.Spec.TrafficDistribution = ptr.To("PreferClose")
	slice := realisticSlice(7, 0, 100)
	slice.Endpoints[3].Hostname = ptr.To("web-3")
	slice.Endpoints[4].Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
	export := realisticExport(7)
	export.Spec.ExportedAnnotations = map[string]string{"note": "x"}
	for _, local := range []bool{false, true} {
		full := desired.ClusterExport{ClusterID: "c1", Export: export.DeepCopy(), Service: svc.DeepCopy(),
			Slices: []*discoveryv1.EndpointSlice{slice.DeepCopy()}}
		trim := desired.ClusterExport{ClusterID: "c1", Export: trimmed(export.DeepCopy(), trimExport),
			Service: trimmed(svc.DeepCopy(), trimService),
			Slices:  []*discoveryv1.EndpointSlice{trimmed(slice.DeepCopy(), sliceTrimmer(local))}}
		target := "c2"
		if local {
			target = "c1"
		}
		mirror := func(e desired.ClusterExport) (*desired.Service, map[string][]metav1.Condition, []*discoveryv1.EndpointSlice) {
			s, conds := desired.Merge(svc.Namespace, svc.Name, []desired.ClusterExport{e})
			slices, _ := desired.EndpointSlices(s, []desired.ClusterExport{e}, desired.SliceOptions{
				DerivedName: desired.DerivedServiceName(svc.Name), LocalCluster: target})
			return s, conds, slices
		}
		s1, c1, sl1 := mirror(full)
		s2, c2, sl2 := mirror(trim)
		if !reflect.DeepEqual(s1, s2) || !reflect.DeepEqual(c1, c2) || !reflect.DeepEqual(sl1, sl2) {
			t.Errorf("local=%v: trimmed sources give\n%+v\n%+v\n%+v\nwant\n%+v\n%+v\n%+v", local, s2, c2, sl2, s1, c1, sl1)
		}
		if local && sl2[0].Endpoints[0].TargetRef == nil {
			t.Error("a target's own endpoints lost their targetRef")
		}
	}
}

// TestUpdateFilters: updates that change nothing the syncer reads are not reconciled; every
// change of what it reads is.
func TestUpdateFilters(t *testing.T) {
	serviceCases := []struct {
		name   string
		change func(*corev1.Service)
		want   bool
	}{
		{"resourceVersion only (a relist)", func(s *corev1.Service) { s.ResourceVersion = "9" }, false},
		{"status", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		}, false},
		{"annotations", func(s *corev1.Service) { s.Annotations[corev1.LastAppliedConfigAnnotation] = "{}" }, false},
		{"labels", func(s *corev1.Service) { s.Labels = map[string]string{"a": "b"} }, false},
		{"managedFields", func(s *corev1.Service) { s.ManagedFields = nil }, false},
		{"selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "other"} }, false},
		{"targetPort", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(8081) }, false},
		{"port", func(s *corev1.Service) { s.Spec.Ports[0].Port = 81 }, true},
		{"port name", func(s *corev1.Service) { s.Spec.Ports[0].Name = "web" }, true},
		{"port protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP }, true},
		{"appProtocol", func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptr.To("h2c") }, true},
		{"a port added", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "grpc", Port: 90})
		}, true},
		{"type", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }, true},
		{"headless", func(s *corev1.Service) { s.Spec.ClusterIP = corev1.ClusterIPNone }, true},
		{"ipFamilies", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }, true},
		{"sessionAffinity", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }, true},
		{"sessionAffinityConfig", func(s *corev1.Service) {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		}, true},
		{"internalTrafficPolicy", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		}, true},
		{"trafficDistribution", func(s *corev1.Service) { s.Spec.TrafficDistribution = ptr.To("PreferClose") }, true},
		{"recreated (another UID)", func(s *corev1.Service) { s.UID = "other" }, true},
	}
	for _, tt := range serviceCases {
		t.Run("Service/"+tt.name, func(t *testing.T) {
			old, updated := realisticService(1), realisticService(1)
			tt.change(updated)
			if got := changed(trimmed(old, trimService), trimmed(updated, trimService), nil); got != tt.want {
				t.Errorf("changed = %v, want %v", got, tt.want)
			}
		})
	}

	sliceCases := []struct {
		name string
		// change applies to the first endpoint or the slice.
		change func(*discoveryv1.EndpointSlice, *discoveryv1.Endpoint)
		// want for a remote member, and for a target's own endpoints.
		remote, local bool
	}{
		{"resourceVersion only", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) { s.ResourceVersion = "9" }, false, false},
		{"trigger-time annotation", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) {
			s.Annotations["endpoints.kubernetes.io/last-change-trigger-time"] = "2026-12-01T00:00:00Z"
		}, false, false},
		{"a copied Service label", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) { s.Labels["helm.sh/chart"] = "web-4.2.2" }, false, false},
		{"generation", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) { s.Generation++ }, false, false},
		{"hints", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Hints = nil }, false, false},
		{"targetRef resourceVersion", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.TargetRef.ResourceVersion = "1" }, false, false},
		{"nodeName", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.NodeName = ptr.To("worker-99") }, false, true},
		{"targetRef", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.TargetRef.Name = "web-other" }, false, true},
		{"address", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Addresses = []string{"10.244.9.9"} }, true, true},
		{"ready", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Conditions.Ready = ptr.To(false) }, true, true},
		{"serving", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Conditions.Serving = ptr.To(false) }, true, true},
		{"terminating", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Conditions.Terminating = ptr.To(true) }, true, true},
		{"hostname", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Hostname = ptr.To("web-0") }, true, true},
		{"zone", func(_ *discoveryv1.EndpointSlice, e *discoveryv1.Endpoint) { e.Zone = ptr.To("zone-z") }, true, true},
		{"an endpoint removed", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) { s.Endpoints = s.Endpoints[1:] }, true, true},
		{"port", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) { s.Ports[0].Port = ptr.To[int32](8081) }, true, true},
		{"addressType", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) {
			s.AddressType = discoveryv1.AddressTypeIPv6
		}, true, true},
		{"service-name label", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) {
			s.Labels[discoveryv1.LabelServiceName] = "other"
		}, true, true},
		{"managed-by label", func(s *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint) {
			s.Labels[discoveryv1.LabelManagedBy] = desired.ManagerName
		}, true, true},
	}
	for _, tt := range sliceCases {
		for _, local := range []bool{false, true} {
			name := "EndpointSlice/remote/" + tt.name
			want := tt.remote
			if local {
				name, want = "EndpointSlice/target/"+tt.name, tt.local
			}
			t.Run(name, func(t *testing.T) {
				old, updated := realisticSlice(1, 0, 5), realisticSlice(1, 0, 5)
				tt.change(updated, &updated.Endpoints[0])
				trim := sliceTrimmer(local)
				if got := changed(trimmed(old, trim), trimmed(updated, trim), nil); got != want {
					t.Errorf("changed = %v, want %v", got, want)
				}
			})
		}
	}

	exportCases := []struct {
		name string
		// change applies to the export; want for a syncer that does not write its status,
		// and for the one that does.
		change            func(*mcsv1alpha1.ServiceExport)
		others, statusOwn bool
	}{
		{"resourceVersion only", func(e *mcsv1alpha1.ServiceExport) { e.ResourceVersion = "9" }, false, false},
		{"labels and annotations", func(e *mcsv1alpha1.ServiceExport) {
			e.Labels, e.Annotations = map[string]string{"a": "b"}, map[string]string{"c": "d"}
		}, false, false},
		{"managedFields", func(e *mcsv1alpha1.ServiceExport) { e.ManagedFields = nil }, false, false},
		{"status conditions", func(e *mcsv1alpha1.ServiceExport) { e.Status.Conditions[2].Status = metav1.ConditionFalse }, false, true},
		{"generation", func(e *mcsv1alpha1.ServiceExport) { e.Generation++ }, true, true},
		{"exportedLabels", func(e *mcsv1alpha1.ServiceExport) { e.Spec.ExportedLabels = map[string]string{"tier": "db"} }, true, true},
		{"exportedAnnotations", func(e *mcsv1alpha1.ServiceExport) {
			e.Spec.ExportedAnnotations = map[string]string{"note": "y"}
		}, true, true},
		{"creationTimestamp (recreated)", func(e *mcsv1alpha1.ServiceExport) {
			e.CreationTimestamp = metav1.Unix(1800000000, 0)
		}, true, true},
		{"recreated (another UID)", func(e *mcsv1alpha1.ServiceExport) { e.UID = "other" }, true, true},
	}
	for _, tt := range exportCases {
		for _, own := range []bool{false, true} {
			name, want, ignore := "ServiceExport/others/"+tt.name, tt.others, ignoreStatus
			if own {
				name, want, ignore = "ServiceExport/statusOwner/"+tt.name, tt.statusOwn, nil
			}
			t.Run(name, func(t *testing.T) {
				old, updated := realisticExport(1), realisticExport(1)
				tt.change(updated)
				if got := changed(trimmed(old, trimExport), trimmed(updated, trimExport), ignore); got != want {
					t.Errorf("changed = %v, want %v", got, want)
				}
			})
		}
	}
}
