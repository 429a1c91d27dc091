package informers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func TestServiceIndex(t *testing.T) {
	index := ServiceIndex(discoveryv1.LabelServiceName)[ByService]
	slice := func(labels map[string]string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", Labels: labels}}
	}
	tests := []struct {
		name string
		obj  any
		want []string
	}{
		{"labelled", slice(map[string]string{discoveryv1.LabelServiceName: "web"}), []string{"ns/web"}},
		{"unlabelled", slice(nil), nil},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "ns/s", Obj: slice(map[string]string{discoveryv1.LabelServiceName: "db"})}, []string{"ns/db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := index(tt.obj)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("index = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestTrim(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	annotations := func() map[string]string {
		return map[string]string{corev1.LastAppliedConfigAnnotation: "{...}", "keep": "me"}
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "x", Labels: map[string]string{"l": "v"}, Annotations: annotations(), ManagedFields: managed}
	}
	svc := &corev1.Service{ObjectMeta: meta(), Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}}}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: meta()}
	imp := &mcsv1alpha1.ServiceImport{ObjectMeta: meta()}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: meta()}
	for _, obj := range []any{svc, export, imp, slice} {
		if _, err := Trim(obj); err != nil {
			t.Fatal(err)
		}
	}
	for name, m := range map[string]metav1.ObjectMeta{"Service": svc.ObjectMeta, "ServiceExport": export.ObjectMeta, "ServiceImport": imp.ObjectMeta, "EndpointSlice": slice.ObjectMeta} {
		if m.ManagedFields != nil || m.Labels["l"] != "v" {
			t.Errorf("%s: managedFields %v, labels %v", name, m.ManagedFields, m.Labels)
		}
	}
	if want := map[string]string{"keep": "me"}; !reflect.DeepEqual(svc.Annotations, want) || !reflect.DeepEqual(slice.Annotations, want) {
		t.Errorf("Service annotations %v, slice annotations %v; want %v", svc.Annotations, slice.Annotations, want)
	}
	if export.Annotations != nil || !reflect.DeepEqual(imp.Annotations, annotations()) {
		t.Errorf("export annotations %v (want none), import annotations %v (want all)", export.Annotations, imp.Annotations)
	}
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("Service status kept: %+v", svc.Status)
	}
}
