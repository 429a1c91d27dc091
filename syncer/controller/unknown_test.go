package controller

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
)

func TestMembershipUnknown(t *testing.T) {
	m := membership{
		synced:  map[string]bool{"synced": true},
		joining: map[string]bool{"joining": true},
		removed: map[string]bool{"removed": true},
	}
	for _, tc := range []struct {
		id        string
		undecided int
		want      bool
	}{
		{"synced", 0, false},  // its view is decisive: not exporting means unexported
		{"synced", 2, false},  //
		{"joining", 0, true},  // admitted, caches not synced yet
		{"removed", 1, false}, // left the configuration, whatever is undecided
		{"other", 1, true},    // may be a candidate not identified yet
		{"other", 0, false},   // every candidate identified: it left
	} {
		m.undecided = tc.undecided
		if got := m.unknown(tc.id); got != tc.want {
			t.Errorf("unknown(%q) with %d undecided = %v, want %v", tc.id, tc.undecided, got, tc.want)
		}
	}
}

// importOf is what the syncer wrote for a merged export.
func importOf(exports ...desired.ClusterExport) *mcsv1alpha1.ServiceImport {
	svc, _ := desired.Merge("ns", "web", exports)
	return desired.ServiceImport(svc, desired.DerivedService(svc, desired.DerivedServiceName("web"), nil))
}

func exportAt(cluster string, created int64, affinity corev1.ServiceAffinity, ports ...int32) desired.ClusterExport {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: affinity, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}}}
	for _, p := range ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "p" + string(rune('a'+p%26)), Protocol: corev1.ProtocolTCP, Port: p})
	}
	return desired.ClusterExport{ClusterID: cluster, Service: svc, Export: &mcsv1alpha1.ServiceExport{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", CreationTimestamp: metav1.NewTime(time.Unix(created, 0))},
		Spec:       mcsv1alpha1.ServiceExportSpec{ExportedLabels: map[string]string{"tier": cluster}}}}
}

// TestKeptExportsKeepTheImport: whatever the syncer sees of the other exporters, merging the
// kept stand-in of the unseen one gives back the import as it was.
func TestKeptExportsKeepTheImport(t *testing.T) {
	unseen := exportAt("c3", 100, corev1.ServiceAffinityClientIP, 80, 81) // oldest: it won
	younger := exportAt("c1", 200, corev1.ServiceAffinityNone, 80)
	older := exportAt("c2", 50, corev1.ServiceAffinityNone, 80)
	for _, tc := range []struct {
		name    string
		before  []desired.ClusterExport // what made the import
		visible []desired.ClusterExport // what the restarted syncer sees
		want    metav1.Time
	}{
		{"only exporter unseen", []desired.ClusterExport{unseen}, nil, keptOldest},
		{"unseen winner, visible younger exporter", []desired.ClusterExport{unseen, younger}, []desired.ClusterExport{younger}, keptOldest},
		{"visible winner, unseen younger exporter", []desired.ClusterExport{older, unseen}, []desired.ClusterExport{older}, keptYoungest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			si := importOf(tc.before...)
			var visibleSvc *desired.Service
			if len(tc.visible) > 0 {
				visibleSvc, _ = desired.Merge("ns", "web", tc.visible)
			}
			created := keptCreation(si, visibleSvc)
			if !created.Equal(&tc.want) {
				t.Errorf("keptCreation = %v, want %v", created, tc.want)
			}
			kept := keptExport("c3", si, created, nil)
			got := importOf(append(tc.visible, kept)...)
			if !apiEqual(got, si) {
				t.Errorf("import changed:\n got %+v %v %v\nwant %+v %v %v", got.Spec, got.Labels, got.Status, si.Spec, si.Labels, si.Status)
			}
		})
	}
}

func TestKeptExportHeadless(t *testing.T) {
	e := exportAt("c3", 100, corev1.ServiceAffinityNone, 80)
	e.Service.Spec.ClusterIP = corev1.ClusterIPNone
	e.Service.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	si := importOf(e)
	got := importOf(keptExport("c3", si, keptOldest, nil))
	if got.Spec.Type != mcsv1alpha1.Headless || !apiEqual(got, si) {
		t.Errorf("headless import changed: %+v, want %+v", got.Spec, si.Spec)
	}
	svc, _ := desired.Merge("ns", "web", []desired.ClusterExport{keptExport("c3", si, keptOldest, nil)})
	if d := desired.DerivedService(svc, desired.DerivedServiceName("web"), nil); d.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("derived Service of a kept headless import has clusterIP %q", d.Spec.ClusterIP)
	}
}

func apiEqual(a, b *mcsv1alpha1.ServiceImport) bool {
	return desired.ServiceImportEqual(a, b) && desired.ServiceImportStatusEqual(a, b)
}

// TestAsSourceRoundTrip: the mirrored slices of a kept cluster, turned back into sources,
// mirror into the same slices.
func TestAsSourceRoundTrip(t *testing.T) {
	e := exportAt("c3", 100, corev1.ServiceAffinityNone, 80, 81)
	for i, addrs := range [][]string{{"10.0.0.2", "10.0.0.1"}, {"10.0.0.3"}} {
		s := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for _, p := range e.Service.Spec.Ports {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(8000 + p.Port)})
		}
		for _, a := range addrs {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Hostname: ptr.To("h" + strings.ReplaceAll(a, ".", "-")),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		e.Slices = append(e.Slices, s)
	}
	svc, _ := desired.Merge("ns", "web", []desired.ClusterExport{e})
	slice2 := desired.SliceOptions{DerivedName: desired.DerivedServiceName("web"), MaxEndpoints: 2}
	mirrored, _ := desired.EndpointSlices(svc, []desired.ClusterExport{e}, slice2)
	if len(mirrored) != 2 {
		t.Fatalf("%d mirrored slices, want 2 (3 endpoints, 2 per slice)", len(mirrored))
	}
	si := importOf(e)
	kept := keptExport("c3", si, keptOldest, asSource(mirrored, "c3", "web"))
	slice2.Existing = mirrored
	again, _ := desired.EndpointSlices(svc, []desired.ClusterExport{kept}, slice2)
	if len(again) != len(mirrored) {
		t.Fatalf("%d slices again, want %d", len(again), len(mirrored))
	}
	for i := range again {
		if again[i].Name != mirrored[i].Name || !desired.EndpointSliceEqual(again[i], mirrored[i]) {
			t.Errorf("slice %d: %s %+v, want %s %+v", i, again[i].Name, again[i].Endpoints, mirrored[i].Name, mirrored[i].Endpoints)
		}
	}
	if other := asSource(mirrored, "c1", "web"); len(other) != 0 {
		t.Errorf("another cluster's slices taken: %d", len(other))
	}
	if w := keptExport("c3", si, keptOldest, nil); !w.Withdrawn {
		t.Error("a kept export without slices must be withdrawn")
	}
}
