package source

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The objects below look like what a member's apiserver serves for a Helm-installed
// service: labels, a kubectl last-applied annotation, managed fields, status; slices as the
// EndpointSlice controller writes them.

var helmLabels = map[string]string{
	"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod", "app.kubernetes.io/version": "1.27.3",
	"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "web-4.2.1",
}

func managedFields(manager string, fields string) []metav1.ManagedFieldsEntry {
	return []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		Time: ptr.To(metav1.Unix(1700000000, 0)), FieldsType: "FieldsV1", FieldsV1: metav1.NewFieldsV1(fields)}}
}

// realisticService is Service i of a member, decoded afresh (as from a watch).
func realisticService(i int) *corev1.Service {
	name := fmt.Sprintf("web-%d", i)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: name, UID: types.UID(fmt.Sprintf("7f6c2f0e-0000-4000-8000-%012d", i)),
			ResourceVersion: fmt.Sprint(100000 + i), CreationTimestamp: metav1.Unix(1700000000, 0), Labels: helmLabels,
			Annotations: map[string]string{
				"meta.helm.sh/release-name": "web-prod", "meta.helm.sh/release-namespace": "default",
				corev1.LastAppliedConfigAnnotation: `{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"labels":{"app.kubernetes.io/instance":"web-prod","app.kubernetes.io/managed-by":"Helm","app.kubernetes.io/name":"web","app.kubernetes.io/version":"1.27.3","helm.sh/chart":"web-4.2.1"},"name":"` + name + `","namespace":"default"},"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080},{"name":"metrics","port":9090,"protocol":"TCP","targetPort":9090}],"selector":{"app.kubernetes.io/instance":"web-prod","app.kubernetes.io/name":"web"},"type":"ClusterIP"}}`,
			},
			ManagedFields: managedFields("kubectl-client-side-apply",
				`{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{},"f:meta.helm.sh/release-name":{},"f:meta.helm.sh/release-namespace":{}},"f:labels":{".":{},"f:app.kubernetes.io/instance":{},"f:app.kubernetes.io/managed-by":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/version":{},"f:helm.sh/chart":{}}},"f:spec":{"f:internalTrafficPolicy":{},"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}},"k:{\"port\":9090,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{},"f:protocol":{},"f:targetPort":{}}},"f:selector":{},"f:sessionAffinity":{},"f:type":{}}}`),
		},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
			ClusterIPs: []string{fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)},
			Ports: []corev1.ServicePort{
				{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080), AppProtocol: ptr.To("http")},
				{Name: "metrics", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromInt32(9090)},
			},
			Selector:              map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web-prod"},
			SessionAffinity:       corev1.ServiceAffinityNone,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}
	return decoded(svc)
}

// realisticSlice is the slice of Service i holding endpoints [from, from+n).
func realisticSlice(i, from, n int) *discoveryv1.EndpointSlice {
	name := fmt.Sprintf("web-%d", i)
	labels := map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	for k, v := range helmLabels { // the EndpointSlice controller copies the Service's labels
		labels[k] = v
	}
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: name + "-x7k2p", UID: types.UID(fmt.Sprintf("3d1b9a4c-0000-4000-8000-%012d", i)),
			ResourceVersion: fmt.Sprint(200000 + i), Generation: 12, CreationTimestamp: metav1.Unix(1700000000, 0), Labels: labels,
			Annotations:     map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-30T09:12:44Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: name, UID: "7f6c2f0e", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080), AppProtocol: ptr.To("http")},
			{Name: ptr.To("metrics"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](9090)},
		},
	}
	fields := `{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:annotations":{".":{},"f:endpoints.kubernetes.io/last-change-trigger-time":{}},"f:generateName":{},"f:labels":{},"f:ownerReferences":{}},"f:ports":{}}`
	sl.ManagedFields = managedFields("kube-controller-manager", fields)
	for e := from; e < from+n; e++ {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.244.%d.%d", e/250, e%250+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(fmt.Sprintf("worker-%d", e%20)),
			Zone:       ptr.To(fmt.Sprintf("zone-%c", 'a'+e%3)),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: fmt.Sprintf("%s-6d4cf56db6-%05d", name, e),
				UID: types.UID(fmt.Sprintf("9c0e2f7a-0000-4000-8000-%012d", e)), ResourceVersion: fmt.Sprint(300000 + e)},
			Hints: &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: fmt.Sprintf("zone-%c", 'a'+e%3)}}},
		})
	}
	return decoded(sl)
}

// realisticExport is the export of Service i, with conditions a syncer has set.
func realisticExport(i int) *mcsv1alpha1.ServiceExport {
	cond := func(t, reason string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: "exported", ObservedGeneration: 1,
			LastTransitionTime: metav1.Unix(1700000000, 0)}
	}
	se := &mcsv1alpha1.ServiceExport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("web-%d", i), Generation: 1,
			UID: types.UID(fmt.Sprintf("5e2a7b1d-0000-4000-8000-%012d", i)), ResourceVersion: fmt.Sprint(400000 + i),
			CreationTimestamp: metav1.Unix(1700000000, 0), Labels: helmLabels,
			ManagedFields: managedFields("clusterset-syncer", `{"f:status":{"f:conditions":{}}}`)},
		Spec: mcsv1alpha1.ServiceExportSpec{ExportedLabels: map[string]string{"tier": "web"}},
		Status: mcsv1alpha1.ServiceExportStatus{Conditions: []metav1.Condition{
			cond("Valid", "Valid"), cond("Conflict", "NoConflicts"), cond("Ready", "Ready")}},
	}
	return decoded(se)
}

// decoded round-trips obj through JSON, so that its strings and maps are separate
// allocations, as a decoded watch event's are.
func decoded[T any](obj *T) *T {
	raw, err := json.Marshal(obj)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		panic(err)
	}
	return out
}
