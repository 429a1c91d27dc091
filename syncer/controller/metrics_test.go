package controller

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/metrics"
)

// TestMetricsState: the members with their liveness, the exports of the members whose
// status this syncer writes only, and the target's managed imports and mirrored slices.
func TestMetricsState(t *testing.T) {
	ctx := context.Background()
	c2, c3 := newFakeCluster("c2"), newFakeCluster("c3")
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "api-c2"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
	if _, err := c2.kube.CoreV1().Services("ns").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: "api-c2-src", Labels: map[string]string{discoveryv1.LabelServiceName: "api-c2"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.9.0.1"}}},
	}
	if _, err := c2.kube.DiscoveryV1().EndpointSlices("ns").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []*fakeCluster{c2, c3} {
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "api-" + f.id}}
		if _, err := f.mcs.MulticlusterV1alpha1().ServiceExports("ns").Create(ctx, se, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := startController(t, Options{}, []*fakeCluster{c2}, c2, c3)
	var s metrics.State
	waitFor(t, "api-c2 imported into c2", func() bool {
		s = c.MetricsState(func(id string) bool { return id == "c2" })
		return len(s.Targets) == 1 && len(s.Targets[0].Imports) == 1 && len(s.Targets[0].Slices) == 1 && len(s.Members) == 2
	})

	slices.SortFunc(s.Members, func(a, b metrics.MemberState) int { return strings.Compare(a.ID, b.ID) })
	if want := []metrics.MemberState{{ID: "c2", Up: true}, {ID: "c3"}}; !slices.Equal(s.Members, want) {
		t.Errorf("members %+v, want %+v", s.Members, want)
	}
	var exports []string
	for _, ce := range s.Exports {
		for _, e := range ce.Exports {
			exports = append(exports, ce.Cluster+"/"+e.Namespace+"/"+e.Name)
		}
	}
	if want := []string{"c2/ns/api-c2"}; !slices.Equal(exports, want) {
		t.Errorf("exports %v, want %v (c3's status is not this syncer's)", exports, want)
	}
	if s.Targets[0].Cluster != "c2" || s.Targets[0].Imports[0].Name != "api-c2" {
		t.Errorf("target %s with import %s, want c2 with api-c2", s.Targets[0].Cluster, s.Targets[0].Imports[0].Name)
	}
}
