package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// State is what the syncer's caches hold, as the state metrics report it. It is read at
// every scrape, so that the metrics cannot drift from the caches and what is deleted
// vanishes from them.
type State struct {
	// Members are the admitted members.
	Members []MemberState
	// Exports are the ServiceExports whose status this syncer writes.
	Exports []ClusterExports
	// Targets are the clusters this syncer writes into.
	Targets []TargetObjects
}

// MemberState is one admitted member.
type MemberState struct {
	ID string
	// Up: reachable, and its caches have synced.
	Up bool
	// Stale: its endpoints are withdrawn.
	Stale bool
}

// ClusterExports are the ServiceExports of one member cluster. The objects are cache
// objects: read only.
type ClusterExports struct {
	Cluster string
	Exports []*mcsv1alpha1.ServiceExport
}

// TargetObjects are the ServiceImports this syncer manages in one target cluster and the
// EndpointSlices it mirrored there. The objects are cache objects: read only.
type TargetObjects struct {
	Cluster string
	Imports []*mcsv1alpha1.ServiceImport
	Slices  []*discoveryv1.EndpointSlice
}

// importTypes are reported for every target, with 0 when it has none of a type.
var importTypes = []mcsv1alpha1.ServiceImportType{mcsv1alpha1.ClusterSetIP, mcsv1alpha1.Headless}

var (
	exportConditionDesc = prometheus.NewDesc(Namespace+"_serviceexport_condition",
		"1 for each current condition of each ServiceExport whose status this syncer writes; cluster is the cluster the export lives in.",
		[]string{"cluster", "namespace", "name", "condition", "status", "reason"}, nil)
	importsDesc = prometheus.NewDesc(Namespace+"_serviceimports",
		"ServiceImports this syncer manages in each target cluster, by type.",
		[]string{"cluster", "type"}, nil)
	mirroredDesc = prometheus.NewDesc(Namespace+"_endpoints_mirrored",
		"Endpoints in the EndpointSlices mirrored into target cluster from cluster source (once per address family).",
		[]string{"cluster", "source"}, nil)
	mirroredReadyDesc = prometheus.NewDesc(Namespace+"_endpoints_mirrored_ready",
		"Ready endpoints in the EndpointSlices mirrored into target cluster from cluster source (once per address family).",
		[]string{"cluster", "source"}, nil)
	memberUpDesc = prometheus.NewDesc(Namespace+"_member_up",
		"1 when the member answers and its caches have synced, else 0.",
		[]string{"member"}, nil)
	memberStaleDesc = prometheus.NewDesc(Namespace+"_member_stale",
		"1 when the member's endpoints are withdrawn (its heartbeat Lease expired, or it has been unreachable longer than --member-ttl), else 0.",
		[]string{"member"}, nil)
)

// stateCollector reports a State read at scrape time.
type stateCollector struct {
	read func() State
}

// RegisterState registers the state metrics, which call read at every scrape.
func (m *Metrics) RegisterState(read func() State) {
	m.Registry.MustRegister(stateCollector{read: read})
}

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{exportConditionDesc, importsDesc, mirroredDesc, mirroredReadyDesc, memberUpDesc, memberStaleDesc} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, m := range s.Members {
		gauge(memberUpDesc, boolValue(m.Up), m.ID)
		gauge(memberStaleDesc, boolValue(m.Stale), m.ID)
	}
	for _, ce := range s.Exports {
		for _, e := range ce.Exports {
			seen := map[string]bool{}
			for _, cond := range e.Status.Conditions {
				// A condition type listed twice (a status written by hand) would make the
				// whole scrape fail; the first one counts, as meta.FindStatusCondition reads.
				if !seen[cond.Type] {
					seen[cond.Type] = true
					gauge(exportConditionDesc, 1, ce.Cluster, e.Namespace, e.Name, cond.Type, string(cond.Status), cond.Reason)
				}
			}
		}
	}
	for _, t := range s.Targets {
		byType := map[mcsv1alpha1.ServiceImportType]int{}
		for _, si := range t.Imports {
			byType[si.Spec.Type]++
		}
		for _, typ := range importTypes {
			gauge(importsDesc, float64(byType[typ]), t.Cluster, string(typ))
		}
		for typ, n := range byType {
			if !slices.Contains(importTypes, typ) {
				gauge(importsDesc, float64(n), t.Cluster, string(typ))
			}
		}
		for source, n := range mirroredEndpoints(t.Slices) {
			gauge(mirroredDesc, float64(n.total), t.Cluster, source)
			gauge(mirroredReadyDesc, float64(n.ready), t.Cluster, source)
		}
	}
}

type endpointCount struct{ total, ready int }

// mirroredEndpoints counts the endpoints of mirrored slices by source cluster. An endpoint
// without a ready condition is ready, as the EndpointSlice API defines.
func mirroredEndpoints(slices []*discoveryv1.EndpointSlice) map[string]endpointCount {
	out := map[string]endpointCount{}
	for _, sl := range slices {
		source := sl.Labels[mcsv1alpha1.LabelSourceCluster]
		n := out[source]
		for _, ep := range sl.Endpoints {
			n.total++
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n.ready++
			}
		}
		out[source] = n
	}
	return out
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
