package inspect

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// exportsWeb makes the member export web, created age ago, with conds.
func exportsWeb(age time.Duration, conds ...metav1.Condition) func(*Snapshot) {
	return func(s *Snapshot) { s.Exports = append(s.Exports, export("web", age, conds...)) }
}

// importsWeb makes the member import web with VIP ip, its derived Service and the mirrored
// slices of every source (ready/not-ready addresses).
func importsWeb(ip string, exporters []string, endpoints map[string][2][]string) func(*Snapshot) {
	return func(s *Snapshot) {
		s.Imports = append(s.Imports, managedImport("web", mcsv1alpha1.ClusterSetIP, []string{ip}, exporters...))
		s.DerivedServices = append(s.DerivedServices, derivedService("web", ip))
		for _, src := range slices.Sorted(maps.Keys(endpoints)) {
			s.Slices = append(s.Slices, mirrored("web", src, endpoints[src][0], endpoints[src][1]))
		}
	}
}

var webEndpoints = map[string][2][]string{"cluster-1": {{"10.244.1.10", "10.244.1.11"}, nil}}

func TestStatus(t *testing.T) {
	web := Key{ns, "web"}
	c1Only := []string{"cluster-1"}
	conflict := func(reason, msg string) []metav1.Condition {
		return []metav1.Condition{healthy[0], healthy[1], cond(mcsv1alpha1.ServiceExportConditionConflict, metav1.ConditionTrue, reason, msg)}
	}
	typeConflict := conflict("TypeConflict", "type: cluster-2 has Headless; using ClusterSetIP from cluster-1 (oldest export)")
	tests := []struct {
		name  string
		snaps []Snapshot
		only  *Key
		// imports is each member's import state, in order.
		imports   []string
		exporters []string
		winner    string
		// problems must each appear in one problem line; none when nil.
		problems []string
		// endpoints is the ENDPOINTS of the second member's import, as "src ready/total".
		endpoints []string
	}{
		{
			name: "healthy export imported everywhere",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints)),
				member("cluster-2", importsWeb("10.102.0.5", c1Only, webEndpoints)),
				member("cluster-3", importsWeb("10.103.0.5", c1Only, webEndpoints)),
			},
			imports: []string{Imported, Imported, Imported}, exporters: c1Only, winner: "cluster-1",
			endpoints: []string{"cluster-1 2/2"},
		},
		{
			name: "conflict: said once, with the oldest export as the winner",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(2*time.Hour, typeConflict...), importsWeb("10.101.0.5", []string{"cluster-1", "cluster-2"}, webEndpoints)),
				member("cluster-2", exportsWeb(time.Hour, typeConflict...), importsWeb("10.102.0.5", []string{"cluster-1", "cluster-2"}, webEndpoints)),
			},
			imports: []string{Imported, Imported}, exporters: []string{"cluster-1", "cluster-2"}, winner: "cluster-1",
			problems:  []string{"conflict TypeConflict, the oldest export (cluster-1) wins: type: cluster-2 has Headless"},
			endpoints: []string{"cluster-1 2/2", "cluster-2 0/0"},
		},
		{
			name: "a tie in age goes to the lower cluster ID",
			snaps: []Snapshot{
				member("cluster-2", exportsWeb(time.Hour, typeConflict...), importsWeb("10.102.0.5", []string{"cluster-1", "cluster-2"}, webEndpoints)),
				member("cluster-1", exportsWeb(time.Hour, typeConflict...), importsWeb("10.101.0.5", []string{"cluster-1", "cluster-2"}, webEndpoints)),
			},
			imports: []string{Imported, Imported}, exporters: []string{"cluster-1", "cluster-2"}, winner: "cluster-1",
			problems:  []string{"conflict TypeConflict, the oldest export (cluster-1) wins"},
			endpoints: []string{"cluster-1 2/2", "cluster-2 0/0"},
		},
		{
			name: "an unreachable exporter: unknown, known from the imports, its endpoints withdrawn",
			snaps: []Snapshot{
				member("cluster-1", importsWeb("10.101.0.5", []string{"cluster-3"}, nil)),
				member("cluster-2", importsWeb("10.102.0.5", []string{"cluster-3"}, nil)),
				unreachable("cluster-3"),
			},
			imports: []string{Imported, Imported, Unreachable}, exporters: []string{"cluster-3"},
			problems: []string{
				"cluster-3: unreachable, its export and import are unknown: no answer within 2s",
				"exported by cluster-3 (as the imports record), which could not be read",
			},
			endpoints: []string{"cluster-3 0/0"},
		},
		{
			name: "a member whose heartbeat expired is stale",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints),
					func(s *Snapshot) { s.Heartbeat = heartbeat("cluster-1", 95*time.Second, 60, "v1.0.0") }),
				member("cluster-2", importsWeb("10.102.0.5", c1Only, webEndpoints)),
			},
			imports: []string{Imported, Imported}, exporters: c1Only, winner: "cluster-1",
			problems:  []string{"cluster-1: stale: its syncer's heartbeat was renewed 1m35s ago, beyond its 60s"},
			endpoints: []string{"cluster-1 2/2"},
		},
		{
			name: "a missing namespace is reported, not taken for a missing import",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints)),
				member("cluster-2", importsWeb("10.102.0.5", c1Only, webEndpoints)),
				member("cluster-3", func(s *Snapshot) { s.Namespaces = []string{"default"} }),
			},
			imports: []string{Imported, Imported, NamespaceMissing}, exporters: c1Only, winner: "cluster-1",
			problems:  []string{"cluster-3: namespace demo missing: not imported there"},
			endpoints: []string{"cluster-1 2/2"},
		},
		{
			name: "an ExternalName export is refused, and nothing is missing for it",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour,
					cond(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionFalse, "InvalidServiceType", "a Service of type ExternalName cannot be exported"),
					cond(mcsv1alpha1.ServiceExportConditionReady, metav1.ConditionFalse, "Failed", "the export is not valid"),
				)),
				member("cluster-2"),
			},
			imports: []string{NotImported, NotImported}, exporters: c1Only,
			problems: []string{"cluster-1: export refused: Valid=False InvalidServiceType: a Service of type ExternalName cannot be exported"},
		},
		{
			name: "a ServiceImport the syncer does not manage is a clash",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints)),
				member("cluster-2", func(s *Snapshot) {
					si := managedImport("web", mcsv1alpha1.ClusterSetIP, []string{"10.102.9.9"})
					si.Labels = nil
					s.Imports = append(s.Imports, si)
				}),
			},
			imports: []string{Imported, NotManaged}, exporters: c1Only, winner: "cluster-1",
			problems: []string{"cluster-2: name clash: ServiceImport demo/web is not managed by clusterset-syncer"},
		},
		{
			name: "an import whose IPs are not its derived Service's",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints)),
				member("cluster-2", importsWeb("10.102.0.5", c1Only, webEndpoints), func(s *Snapshot) { s.Imports[0].Spec.IPs = []string{"10.9.9.9"} }),
			},
			imports: []string{Imported, Imported}, exporters: c1Only, winner: "cluster-1",
			problems:  []string{"cluster-2: the import's IPs 10.9.9.9 differ from the cluster IPs 10.102.0.5 of its derived Service derived-"},
			endpoints: []string{"cluster-1 2/2"},
		},
		{
			name: "not imported yet where the namespace exists; not-ready endpoints counted apart",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour, healthy...), importsWeb("10.101.0.5", c1Only, webEndpoints)),
				member("cluster-2", importsWeb("10.102.0.5", c1Only, map[string][2][]string{"cluster-1": {{"10.244.1.10"}, {"10.244.1.11"}}})),
				member("cluster-3"),
			},
			imports: []string{Imported, Imported, NotImported}, exporters: c1Only, winner: "cluster-1",
			problems:  []string{"cluster-3: not imported (yet), though cluster-1 exports it validly"},
			endpoints: []string{"cluster-1 1/2"},
		},
		{
			name: "an export without conditions: no syncer has seen it",
			snaps: []Snapshot{
				member("cluster-1", exportsWeb(time.Hour)),
				member("cluster-2"),
			},
			imports: []string{NotImported, NotImported}, exporters: c1Only,
			problems: []string{"cluster-1: the export has no Valid condition yet"},
		},
		{
			name: "a service asked for by name that nobody exports",
			snaps: []Snapshot{
				member("cluster-1"),
			},
			only:    &web,
			imports: []string{NotImported}, exporters: []string{},
			problems: []string{"no member exports demo/web"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Status(tt.snaps, tt.only, now)
			if len(r.Services) != 1 {
				t.Fatalf("%d services, want 1: %+v", len(r.Services), r.Services)
			}
			st := r.Services[0]
			var states []string
			for _, c := range st.Clusters {
				states = append(states, c.Import.State)
			}
			if !slices.Equal(states, tt.imports) {
				t.Errorf("import states %v, want %v", states, tt.imports)
			}
			if !slices.Equal(st.Exporters, tt.exporters) {
				t.Errorf("exporters %v, want %v", st.Exporters, tt.exporters)
			}
			if st.Winner != tt.winner {
				t.Errorf("winner %q, want %q", st.Winner, tt.winner)
			}
			if len(tt.problems) == 0 && len(st.Problems) > 0 {
				t.Errorf("problems %q, want none", st.Problems)
			}
			for _, want := range tt.problems {
				if !slices.ContainsFunc(st.Problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("no problem line contains %q; got:\n%s", want, strings.Join(st.Problems, "\n"))
				}
			}
			if len(tt.problems) > 0 && len(st.Problems) != len(tt.problems) {
				t.Errorf("%d problem lines, want %d:\n%s", len(st.Problems), len(tt.problems), strings.Join(st.Problems, "\n"))
			}
			if len(st.Clusters) > 1 {
				var eps []string
				for _, e := range st.Clusters[1].Import.Endpoints {
					eps = append(eps, fmt.Sprintf("%s %d/%d", e.Cluster, e.Ready, e.Total))
				}
				if !slices.Equal(eps, tt.endpoints) {
					t.Errorf("second member's endpoints %v, want %v", eps, tt.endpoints)
				}
			}
		})
	}
}

// Every service some member exports or imports is reported once, in namespace/name order, and
// what could not be read is said.
func TestStatusServices(t *testing.T) {
	snaps := []Snapshot{
		member("cluster-1", func(s *Snapshot) {
			s.Exports = append(s.Exports, export("web", time.Hour, healthy...), export("api", time.Hour, healthy...))
		}),
		member("cluster-2", func(s *Snapshot) {
			s.Imports = append(s.Imports, managedImport("db", mcsv1alpha1.Headless, nil, "cluster-3"), managedImport("web", mcsv1alpha1.ClusterSetIP, nil, "cluster-1"))
		}),
		unreachable("cluster-3"),
		member("cluster-4", func(s *Snapshot) { s.Errors = []string{"reading the ServiceExports: forbidden"} }),
	}
	r := Status(snaps, nil, now)
	if want := []string{"cluster-4: reading the ServiceExports: forbidden"}; !slices.Equal(r.Problems, want) {
		t.Errorf("report problems %q, want %q", r.Problems, want)
	}
	var got []string
	for _, s := range r.Services {
		got = append(got, s.String())
	}
	if want := []string{"demo/api", "demo/db", "demo/web"}; !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
}

func TestParseKey(t *testing.T) {
	for in, want := range map[string]string{"demo/web": "", "demo": "want NAMESPACE/NAME", "a/b/c": "want NAMESPACE/NAME",
		"Demo/web": "not a valid", "demo/": "not a valid", "/web": "not a valid"} {
		k, err := ParseKey(in)
		switch {
		case want == "" && (err != nil || k.String() != in):
			t.Errorf("ParseKey(%q) = %v, %v", in, k, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("ParseKey(%q) error %v, want one containing %q", in, err, want)
		}
	}
}
