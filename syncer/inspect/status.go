package inspect

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
)

// StatusReport is every exported service across the members.
type StatusReport struct {
	Services []ServiceStatus `json:"services"`
	// Problems are what could not be read from members that answered (forbidden reads).
	Problems []string `json:"problems,omitempty"`
}

// ServiceStatus is one service across the members.
type ServiceStatus struct {
	Key
	// Exporters are the cluster IDs exporting it: those with a ServiceExport, and those the
	// imports record (which includes members that could not be read).
	Exporters []string `json:"exporters"`
	// Winner is the oldest valid export's cluster, whose values win a conflict.
	Winner   string           `json:"winner,omitempty"`
	Clusters []ClusterService `json:"clusters"`
	// Problems says what is wrong, one line each; empty when nothing is.
	Problems []string `json:"problems,omitempty"`
}

// ClusterService is one service in one member.
type ClusterService struct {
	// Cluster is the member's cluster ID, or its name while the ID is unknown.
	Cluster   string `json:"cluster"`
	Member    string `json:"member"`
	Reachable bool   `json:"reachable"`
	// Export is the member's ServiceExport; nil when it has none (or could not be read).
	Export *ExportStatus `json:"export,omitempty"`
	Import ImportStatus  `json:"import"`
}

// ExportStatus is a ServiceExport's conditions.
type ExportStatus struct {
	Created  time.Time `json:"created"`
	Valid    Condition `json:"valid"`
	Ready    Condition `json:"ready"`
	Conflict Condition `json:"conflict"`
}

// Condition is a condition's status, reason and message; Status is empty when it is not set.
type Condition struct {
	Status  string `json:"status,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Import states.
const (
	Imported         = "Imported"
	NotImported      = "NotImported"
	NamespaceMissing = "NamespaceMissing"
	NotManaged       = "NotManaged"
	Unreachable      = "Unreachable"
)

// ImportStatus is a member's ServiceImport of the service.
type ImportStatus struct {
	// State is Imported, NotImported, NamespaceMissing, NotManaged (a ServiceImport of that
	// name that the syncer does not manage) or Unreachable.
	State          string   `json:"state"`
	Type           string   `json:"type,omitempty"`
	IPs            []string `json:"ips,omitempty"`
	DerivedService string   `json:"derivedService,omitempty"`
	// Endpoints are the mirrored endpoints per source cluster.
	Endpoints []SourceEndpoints `json:"endpoints,omitempty"`
}

// SourceEndpoints counts the mirrored endpoints of one source cluster.
type SourceEndpoints struct {
	Cluster string `json:"cluster"`
	Ready   int    `json:"ready"`
	Total   int    `json:"total"`
}

// Status reports every service that a reachable member exports or imports (or only the one
// given) at now.
func Status(snaps []Snapshot, only *Key, now time.Time) StatusReport {
	r := StatusReport{Services: []ServiceStatus{}}
	for _, k := range serviceKeys(snaps, only) {
		r.Services = append(r.Services, serviceStatus(snaps, k, now))
	}
	for _, s := range snaps {
		for _, e := range s.Errors {
			r.Problems = append(r.Problems, s.Label()+": "+e)
		}
	}
	return r
}

func serviceStatus(snaps []Snapshot, k Key, now time.Time) ServiceStatus {
	st := ServiceStatus{Key: k, Exporters: []string{}}
	var problems problemList
	readIDs := map[string]bool{}
	var valid []validExport
	var conflicts []Condition
	for i := range snaps {
		s := &snaps[i]
		cs := ClusterService{Cluster: s.Label(), Member: s.Member, Reachable: s.Reachable()}
		if !s.Reachable() {
			cs.Import.State = Unreachable
			problems.add("%s: unreachable, its export and import are unknown: %s", s.Label(), s.Unreachable)
			st.Clusters = append(st.Clusters, cs)
			continue
		}
		readIDs[s.ClusterID] = true
		if stale, why := staleness(s, now); stale == Yes {
			problems.add("%s: %s", s.Label(), why)
		}
		if e := s.export(k); e != nil {
			cs.Export = exportStatus(e)
			addOnce(&st.Exporters, s.Label())
			if cs.Export.Valid.Status == string(metav1.ConditionTrue) {
				valid = append(valid, validExport{s.Label(), e.CreationTimestamp.Time})
			}
			exportProblems(&problems, s.Label(), cs.Export)
			if cs.Export.Conflict.Status == string(metav1.ConditionTrue) && !slices.Contains(conflicts, cs.Export.Conflict) {
				conflicts = append(conflicts, cs.Export.Conflict)
			}
		}
		cs.Import = importStatus(s, k)
		importProblems(&problems, s, k, cs.Import)
		for _, c := range importedFrom(s, k) {
			addOnce(&st.Exporters, c)
		}
		st.Clusters = append(st.Clusters, cs)
	}
	slices.Sort(st.Exporters)
	if len(valid) > 0 {
		st.Winner = slices.MinFunc(valid, func(a, b validExport) int {
			return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.cluster, b.cluster))
		}).cluster
	}
	for _, c := range conflicts {
		problems.add("conflict %s, the oldest export (%s) wins: %s", c.Reason, cmp.Or(st.Winner, Unknown), c.Message)
	}
	for _, id := range st.Exporters {
		if !readIDs[id] {
			problems.add("exported by %s (as the imports record), which could not be read: its export is unknown; its endpoints are withdrawn once it is stale", id)
		}
	}
	// A service exported nowhere: its imports are leftovers, or nothing is there at all.
	if len(st.Exporters) == 0 {
		problems.add("no member exports %s", k)
	}
	if len(valid) > 0 {
		for _, cs := range st.Clusters {
			if cs.Import.State == NotImported {
				problems.add("%s: not imported (yet), though %s exports it validly", cs.Cluster, st.Winner)
			}
		}
	}
	st.Problems = problems.lines
	return st
}

func addOnce(list *[]string, s string) {
	if !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}

type validExport struct {
	cluster string
	created time.Time
}

// problemList collects lines once each: every constituent of a conflict carries the same
// condition, and a line said once is enough.
type problemList struct{ lines []string }

func (p *problemList) add(format string, args ...any) {
	addOnce(&p.lines, fmt.Sprintf(format, args...))
}

func exportStatus(e *mcsv1alpha1.ServiceExport) *ExportStatus {
	cond := func(t mcsv1alpha1.ServiceExportConditionType) Condition {
		c := meta.FindStatusCondition(e.Status.Conditions, string(t))
		if c == nil {
			return Condition{}
		}
		return Condition{Status: string(c.Status), Reason: c.Reason, Message: c.Message}
	}
	return &ExportStatus{
		Created:  e.CreationTimestamp.Time,
		Valid:    cond(mcsv1alpha1.ServiceExportConditionValid),
		Ready:    cond(mcsv1alpha1.ServiceExportConditionReady),
		Conflict: cond(mcsv1alpha1.ServiceExportConditionConflict),
	}
}

func exportProblems(p *problemList, cluster string, e *ExportStatus) {
	switch {
	case e.Valid.Status == "":
		p.add("%s: the export has no Valid condition yet: does a syncer run for %s?", cluster, cluster)
		return
	case e.Valid.Status != string(metav1.ConditionTrue):
		p.add("%s: export refused: Valid=%s %s: %s", cluster, e.Valid.Status, e.Valid.Reason, e.Valid.Message)
		return
	}
	if e.Ready.Status != string(metav1.ConditionTrue) {
		p.add("%s: export not ready: Ready=%s %s: %s", cluster, cmp.Or(e.Ready.Status, "unset"), e.Ready.Reason, e.Ready.Message)
	}
}

// importedFrom lists the exporters the member's managed import of k records.
func importedFrom(s *Snapshot, k Key) []string {
	if si := s.serviceImport(k); si != nil && desired.IsManaged(si) {
		return importClusters(si)
	}
	return nil
}

func importStatus(s *Snapshot, k Key) ImportStatus {
	si := s.serviceImport(k)
	switch {
	case si != nil && !desired.IsManaged(si):
		return ImportStatus{State: NotManaged, Type: string(si.Spec.Type), IPs: si.Spec.IPs}
	case si != nil:
		return ImportStatus{
			State: Imported, Type: string(si.Spec.Type), IPs: si.Spec.IPs,
			DerivedService: si.Annotations[desired.DerivedServiceAnnotation],
			Endpoints:      sourceEndpoints(s, k, importClusters(si)),
		}
	}
	if present, known := s.namespace(k.Namespace); known && !present {
		return ImportStatus{State: NamespaceMissing}
	}
	return ImportStatus{State: NotImported}
}

// sourceEndpoints counts the mirrored endpoints per source cluster: every exporter the import
// records (0/0 when it has none mirrored here), and every source a slice names.
func sourceEndpoints(s *Snapshot, k Key, exporters []string) []SourceEndpoints {
	counts := map[string]*SourceEndpoints{}
	get := func(c string) *SourceEndpoints {
		if counts[c] == nil {
			counts[c] = &SourceEndpoints{Cluster: c}
		}
		return counts[c]
	}
	for _, c := range exporters {
		get(c)
	}
	for _, es := range s.slicesOf(k) {
		src := es.Labels[mcsv1alpha1.LabelSourceCluster]
		if src == "" {
			continue // not a mirrored slice
		}
		n := get(src)
		for _, ep := range es.Endpoints {
			n.Total++
			if endpointReady(ep) {
				n.Ready++
			}
		}
	}
	out := make([]SourceEndpoints, 0, len(counts))
	for _, n := range counts {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b SourceEndpoints) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return out
}

func importProblems(p *problemList, s *Snapshot, k Key, imp ImportStatus) {
	c := s.Label()
	switch imp.State {
	case NamespaceMissing:
		p.add("%s: namespace %s missing: not imported there (the syncer never creates namespaces)", c, k.Namespace)
		return
	case NotManaged:
		p.add("%s: name clash: ServiceImport %s is not managed by %s, which leaves it alone and imports nothing there", c, k, desired.ManagerName)
		return
	case Imported:
	default:
		return
	}
	si := s.serviceImport(k)
	if rc := meta.FindStatusCondition(si.Status.Conditions, "Ready"); rc != nil && rc.Status != metav1.ConditionTrue {
		p.add("%s: import not ready: %s: %s", c, rc.Reason, rc.Message)
	}
	if si.Spec.Type != mcsv1alpha1.ClusterSetIP {
		return
	}
	if len(si.Spec.IPs) == 0 {
		p.add("%s: the import has no VIP yet", c)
		return
	}
	derived := s.derivedService(k.Namespace, imp.DerivedService)
	switch {
	case imp.DerivedService == "":
		p.add("%s: the import names no derived Service (annotation %s)", c, desired.DerivedServiceAnnotation)
	case derived == nil:
		p.add("%s: the derived Service %s/%s that the import names is missing", c, k.Namespace, imp.DerivedService)
	case !slices.Equal(si.Spec.IPs, clusterIPs(derived)):
		p.add("%s: the import's IPs %s differ from the cluster IPs %s of its derived Service %s, which kube-proxy routes",
			c, strings.Join(si.Spec.IPs, ","), strings.Join(clusterIPs(derived), ","), derived.Name)
	}
}

// clusterIPs are a Service's cluster IPs, as the import copies them.
func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return svc.Spec.ClusterIPs
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return []string{svc.Spec.ClusterIP}
	}
	return nil
}
