package metrics

import (
	"maps"
	"slices"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

func export(ns, name string, conds ...metav1.Condition) *mcsv1alpha1.ServiceExport {
	e := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	e.Status.Conditions = conds
	return e
}

func cond(typ string, status metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason}
}

func imported(typ mcsv1alpha1.ServiceImportType) *mcsv1alpha1.ServiceImport {
	return &mcsv1alpha1.ServiceImport{Spec: mcsv1alpha1.ServiceImportSpec{Type: typ}}
}

// mirrored is a mirrored slice from source with one endpoint per readiness (nil: no
// condition, which means ready).
func mirrored(source string, ready ...*bool) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{mcsv1alpha1.LabelSourceCluster: source}}}
	for _, r := range ready {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: r}})
	}
	return sl
}

// TestStateCollector: each series is what the caches hold at the scrape, and what they no
// longer hold is gone.
func TestStateCollector(t *testing.T) {
	yes, no := ptr.To(true), ptr.To(false)
	for _, tc := range []struct {
		name  string
		state State
		want  map[string]float64
	}{
		{name: "empty", state: State{}, want: map[string]float64{}},
		{
			name:  "members",
			state: State{Members: []MemberState{{ID: "c1", Up: true}, {ID: "c2", Stale: true}}},
			want: map[string]float64{
				`clusterset_syncer_member_up{member="c1"}`:    1,
				`clusterset_syncer_member_stale{member="c1"}`: 0,
				`clusterset_syncer_member_up{member="c2"}`:    0,
				`clusterset_syncer_member_stale{member="c2"}`: 1,
			},
		},
		{
			name: "export conditions",
			state: State{Exports: []ClusterExports{
				{Cluster: "c1", Exports: []*mcsv1alpha1.ServiceExport{
					export("ns", "web",
						cond("Valid", metav1.ConditionTrue, "Valid"),
						cond("Conflict", metav1.ConditionTrue, "PortConflict,TypeConflict"),
						cond("Ready", metav1.ConditionTrue, "Ready")),
					export("ns", "new"), // no status yet
					export("kube-system", "dns",
						cond("Valid", metav1.ConditionFalse, "NamespaceNotAllowed"),
						cond("Valid", metav1.ConditionTrue, "Valid")), // listed twice: the first counts
				}},
				{Cluster: "c2", Exports: []*mcsv1alpha1.ServiceExport{export("ns", "web", cond("Valid", metav1.ConditionTrue, "Valid"))}},
			}},
			want: map[string]float64{
				`clusterset_syncer_serviceexport_condition{cluster="c1",condition="Valid",name="web",namespace="ns",reason="Valid",status="True"}`:                         1,
				`clusterset_syncer_serviceexport_condition{cluster="c1",condition="Conflict",name="web",namespace="ns",reason="PortConflict,TypeConflict",status="True"}`:  1,
				`clusterset_syncer_serviceexport_condition{cluster="c1",condition="Ready",name="web",namespace="ns",reason="Ready",status="True"}`:                         1,
				`clusterset_syncer_serviceexport_condition{cluster="c1",condition="Valid",name="dns",namespace="kube-system",reason="NamespaceNotAllowed",status="False"}`: 1,
				`clusterset_syncer_serviceexport_condition{cluster="c2",condition="Valid",name="web",namespace="ns",reason="Valid",status="True"}`:                         1,
			},
		},
		{
			name: "targets",
			state: State{Targets: []TargetObjects{
				{
					Cluster: "c1",
					Imports: []*mcsv1alpha1.ServiceImport{imported(mcsv1alpha1.ClusterSetIP), imported(mcsv1alpha1.ClusterSetIP), imported("Odd")},
					Slices:  []*discoveryv1.EndpointSlice{mirrored("c1", nil, yes, no), mirrored("c2", no), mirrored("c1", yes)},
				},
				{Cluster: "c2", Imports: []*mcsv1alpha1.ServiceImport{imported(mcsv1alpha1.Headless)}},
			}},
			want: map[string]float64{
				`clusterset_syncer_serviceimports{cluster="c1",type="ClusterSetIP"}`:   2,
				`clusterset_syncer_serviceimports{cluster="c1",type="Headless"}`:       0,
				`clusterset_syncer_serviceimports{cluster="c1",type="Odd"}`:            1,
				`clusterset_syncer_serviceimports{cluster="c2",type="ClusterSetIP"}`:   0,
				`clusterset_syncer_serviceimports{cluster="c2",type="Headless"}`:       1,
				`clusterset_syncer_endpoints_mirrored{cluster="c1",source="c1"}`:       4,
				`clusterset_syncer_endpoints_mirrored_ready{cluster="c1",source="c1"}`: 3,
				`clusterset_syncer_endpoints_mirrored{cluster="c1",source="c2"}`:       1,
				`clusterset_syncer_endpoints_mirrored_ready{cluster="c1",source="c2"}`: 0,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := series(t, stateCollector{read: func() State { return tc.state }})
			if !maps.Equal(got, tc.want) {
				keys := slices.Sorted(maps.Keys(got))
				t.Errorf("got\n%v\nwant %v", keys, tc.want)
				for _, k := range keys {
					if got[k] != tc.want[k] {
						t.Errorf("%s = %v, want %v", k, got[k], tc.want[k])
					}
				}
			}
		})
	}
}

// TestStateReadAtScrape: a second scrape reads the state again; an export gone from the
// caches is gone from the metrics.
func TestStateReadAtScrape(t *testing.T) {
	m := New()
	exports := []*mcsv1alpha1.ServiceExport{export("ns", "web", cond("Ready", metav1.ConditionTrue, "Ready"))}
	m.RegisterState(func() State { return State{Exports: []ClusterExports{{Cluster: "c1", Exports: exports}}} })
	const ready = `clusterset_syncer_serviceexport_condition{cluster="c1",condition="Ready",name="web",namespace="ns",reason="Ready",status="True"}`
	if got := series(t, m.Registry)[ready]; got != 1 {
		t.Fatalf("%s = %v, want 1", ready, got)
	}
	exports = nil
	if _, ok := series(t, m.Registry)[ready]; ok {
		t.Errorf("%s still reported after the export was deleted", ready)
	}
}
