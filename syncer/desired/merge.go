package desired

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// ClusterExport is one member cluster's current view of one exported service.
type ClusterExport struct {
	ClusterID string
	Export    *mcsv1alpha1.ServiceExport // never nil
	Service   *corev1.Service            // nil when the Service does not exist
	// Slices are the Service's own source slices in that cluster (label
	// kubernetes.io/service-name=<svc>); slices managed by the syncer are ignored.
	Slices []*discoveryv1.EndpointSlice
	// Withdrawn marks a stale member: its export still takes part in the merge,
	// so the import survives, but its endpoints are not mirrored.
	Withdrawn bool
}

// Service is the merged, cluster-independent shape of one exported service.
type Service struct {
	Namespace string
	Name      string
	Type      mcsv1alpha1.ServiceImportType
	// Ports is the union of the constituent Services' ports, sorted by name,
	// protocol and port. Protocols are upper case, never empty.
	Ports                 []mcsv1alpha1.ServicePort
	SessionAffinity       corev1.ServiceAffinity // never empty
	SessionAffinityConfig *corev1.SessionAffinityConfig
	InternalTrafficPolicy *corev1.ServiceInternalTrafficPolicy // never nil
	TrafficDistribution   *string
	// IPFamilies is the union of the constituent Services' families, the
	// oldest export's first.
	IPFamilies []corev1.IPFamily
	// Labels and Annotations are the oldest export's spec.exportedLabels and
	// spec.exportedAnnotations.
	Labels      map[string]string
	Annotations map[string]string
	// Clusters lists the constituent clusters (valid exports, withdrawn ones
	// included), sorted.
	Clusters []string
	// Winner is the cluster whose export is the oldest; its values win conflicts.
	Winner string
}

// constituent is a valid export taking part in the merge.
type constituent struct {
	ClusterExport
	importType mcsv1alpha1.ServiceImportType
	ports      []mcsv1alpha1.ServicePort // canonical
}

// Merge applies KEP-1645 to every cluster's export of one (namespace, name):
// type conversion, ports union (matched by name, then by protocol and port),
// and oldest export wins (ServiceExport creationTimestamp, ties by cluster ID)
// for the type, session affinity and its config, internalTrafficPolicy,
// trafficDistribution and the exported labels and annotations.
//
// It returns the merged service, nil when no valid export remains, and for
// every cluster of exports its Valid and Conflict conditions. Every
// constituent gets the same Conflict condition: True with the mcs-api reasons
// joined by commas and a message naming each conflicting field and the
// winning cluster, or False with reason NoConflicts.
func Merge(namespace, name string, exports []ClusterExport) (*Service, map[string][]metav1.Condition) {
	conds := make(map[string][]metav1.Condition, len(exports))
	var members []constituent
	for _, e := range exports {
		gen := e.Export.Generation
		t, reason, msg := importType(e.Service)
		if reason == mcsv1alpha1.ServiceExportReasonValid {
			reason, msg = exportedMetadataValid(e.Export)
		}
		if reason != mcsv1alpha1.ServiceExportReasonValid {
			conds[e.ClusterID] = []metav1.Condition{
				exportCondition(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionFalse, reason, msg, gen),
				exportCondition(mcsv1alpha1.ServiceExportConditionConflict, metav1.ConditionFalse, mcsv1alpha1.ServiceExportReasonNoConflicts,
					"the export is not valid and takes no part in the merge", gen),
			}
			continue
		}
		members = append(members, constituent{ClusterExport: e, importType: t, ports: servicePorts(e.Service)})
	}
	if len(members) == 0 {
		return nil, conds
	}
	slices.SortFunc(members, olderFirst)
	winner := &members[0]
	ports, portClause := mergePorts(members)
	s := &Service{
		Namespace:             namespace,
		Name:                  name,
		Type:                  winner.importType,
		Ports:                 ports,
		SessionAffinity:       sessionAffinity(winner.Service),
		SessionAffinityConfig: winner.Service.Spec.SessionAffinityConfig.DeepCopy(),
		InternalTrafficPolicy: ptrTo(internalTrafficPolicy(winner.Service)),
		TrafficDistribution:   clonePtr(winner.Service.Spec.TrafficDistribution),
		IPFamilies:            ipFamilies(members),
		Labels:                maps.Clone(winner.Export.Spec.ExportedLabels),
		Annotations:           maps.Clone(winner.Export.Spec.ExportedAnnotations),
		Winner:                winner.ClusterID,
	}
	for _, m := range members {
		s.Clusters = append(s.Clusters, m.ClusterID)
	}
	slices.Sort(s.Clusters)

	// Reasons in the order mcs-api lists them: ports first.
	var reasons, clauses []string
	if portClause != "" {
		reasons, clauses = []string{string(mcsv1alpha1.ServiceExportReasonPortConflict)}, []string{portClause}
	}
	fieldReasons, fieldClauses := fieldConflicts(members)
	reasons, clauses = append(reasons, fieldReasons...), append(clauses, fieldClauses...)
	if clause := ipFamilyConflict(members, s.IPFamilies); clause != "" {
		reasons, clauses = append(reasons, string(mcsv1alpha1.ServiceExportReasonIPFamilyConflict)), append(clauses, clause)
	}
	for _, m := range members {
		gen := m.Export.Generation
		conflict := exportCondition(mcsv1alpha1.ServiceExportConditionConflict, metav1.ConditionFalse,
			mcsv1alpha1.ServiceExportReasonNoConflicts, "no conflicts with the other exports", gen)
		if len(reasons) > 0 {
			conflict.Status = metav1.ConditionTrue
			conflict.Reason = strings.Join(reasons, ",")
			conflict.Message = truncate(strings.Join(clauses, "; "), maxConditionMessage)
		}
		conds[m.ClusterID] = []metav1.Condition{
			exportCondition(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionTrue, mcsv1alpha1.ServiceExportReasonValid,
				"the Service can be exported as "+string(m.importType), gen),
			conflict,
		}
	}
	return s, conds
}

// importType converts a Service's type to an import type (the conversion table
// of syncer/README.md). The reason is Valid, NoService or InvalidServiceType.
func importType(svc *corev1.Service) (mcsv1alpha1.ServiceImportType, mcsv1alpha1.ServiceExportConditionReason, string) {
	switch {
	case svc == nil:
		return "", mcsv1alpha1.ServiceExportReasonNoService, "no Service with the export's name exists in this namespace"
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return "", mcsv1alpha1.ServiceExportReasonInvalidServiceType, "a Service of type ExternalName cannot be exported"
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		return mcsv1alpha1.Headless, mcsv1alpha1.ServiceExportReasonValid, ""
	default: // ClusterIP, NodePort, LoadBalancer (and an unset type, which defaults to ClusterIP)
		return mcsv1alpha1.ClusterSetIP, mcsv1alpha1.ServiceExportReasonValid, ""
	}
}

// Valid=False reasons of this syncer beyond mcs-api's, for an export whose
// spec.exportedLabels or spec.exportedAnnotations the apiserver would refuse
// on the ServiceImport (mcs-api v0.5.2 has no reason for it).
const (
	ReasonInvalidExportedLabels      mcsv1alpha1.ServiceExportConditionReason = "InvalidExportedLabels"
	ReasonInvalidExportedAnnotations mcsv1alpha1.ServiceExportConditionReason = "InvalidExportedAnnotations"
)

// exportedMetadataValid checks an export's exported labels and annotations
// as the apiserver checks an object's own; the message names each bad key or
// value. Such an export takes no part in the merge: it would otherwise make
// every write of the import fail.
func exportedMetadataValid(se *mcsv1alpha1.ServiceExport) (mcsv1alpha1.ServiceExportConditionReason, string) {
	spec := field.NewPath("spec")
	var reasons, msgs []string
	// Key by key, so that every message names its key (a bad value alone would not).
	check := func(reason mcsv1alpha1.ServiceExportConditionReason, m map[string]string, path *field.Path,
		validate func(map[string]string, *field.Path) field.ErrorList, total error) {
		var errs field.ErrorList
		for _, k := range slices.Sorted(maps.Keys(m)) {
			errs = append(errs, validate(map[string]string{k: m[k]}, path.Key(k))...)
		}
		if total != nil && len(errs) == 0 { // one huge entry is already reported by its key
			errs = append(errs, field.TooLong(path, "", apimachineryvalidation.TotalAnnotationSizeLimitB))
		}
		if len(errs) > 0 {
			reasons, msgs = append(reasons, string(reason)), append(msgs, errs.ToAggregate().Error())
		}
	}
	check(ReasonInvalidExportedLabels, se.Spec.ExportedLabels, spec.Child("exportedLabels"), metav1validation.ValidateLabels, nil)
	check(ReasonInvalidExportedAnnotations, se.Spec.ExportedAnnotations, spec.Child("exportedAnnotations"),
		apimachineryvalidation.ValidateAnnotations, apimachineryvalidation.ValidateAnnotationsSize(se.Spec.ExportedAnnotations))
	if len(reasons) == 0 {
		return mcsv1alpha1.ServiceExportReasonValid, ""
	}
	return mcsv1alpha1.ServiceExportConditionReason(strings.Join(reasons, ",")),
		truncate("the export cannot be imported: "+strings.Join(msgs, "; "), maxConditionMessage)
}

// olderFirst orders exports by precedence: oldest creationTimestamp first,
// ties broken by cluster ID.
func olderFirst(a, b constituent) int {
	ta, tb := a.Export.CreationTimestamp, b.Export.CreationTimestamp
	if !ta.Equal(&tb) {
		if ta.Before(&tb) {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.ClusterID, b.ClusterID)
}

// servicePorts converts a Service's ports to canonical ServiceImport ports.
func servicePorts(svc *corev1.Service) []mcsv1alpha1.ServicePort {
	var out []mcsv1alpha1.ServicePort
	for _, p := range svc.Spec.Ports {
		out = append(out, mcsv1alpha1.ServicePort{
			Name:        p.Name,
			Protocol:    normalProtocol(p.Protocol),
			AppProtocol: clonePtr(p.AppProtocol),
			Port:        p.Port,
		})
	}
	slices.SortFunc(out, comparePorts)
	return out
}

// normalProtocol upper-cases a protocol and defaults it to TCP, as the
// apiserver does, so that "tcp", "" and "TCP" are the same port.
func normalProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return corev1.Protocol(strings.ToUpper(string(p)))
}

func comparePorts(a, b mcsv1alpha1.ServicePort) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Port, b.Port))
}

func samePort(a, b mcsv1alpha1.ServicePort) bool {
	return a.Name == b.Name && a.Protocol == b.Protocol && a.Port == b.Port && stringPtrEqual(a.AppProtocol, b.AppProtocol)
}

func describePort(p mcsv1alpha1.ServicePort) string {
	s := fmt.Sprintf("%q %s/%d", p.Name, p.Protocol, p.Port)
	if p.AppProtocol != nil {
		s += " appProtocol " + *p.AppProtocol
	}
	return s
}

// mergePorts returns the union of the members' ports (members sorted by
// precedence) and, when the members' port sets are not all identical, the
// PortConflict message clause. A port joins the union unless it collides
// with an already merged one by name or by (protocol, port), or it would
// leave an unnamed port among several; a colliding non-identical port is
// dropped, so the older export's port is kept. The result is thus always a
// valid Service port list.
func mergePorts(members []constituent) ([]mcsv1alpha1.ServicePort, string) {
	type mergedPort struct {
		mcsv1alpha1.ServicePort
		from string
	}
	var merged []mergedPort
	var dropped []string
	for _, m := range members {
		for _, p := range m.ports {
			i := slices.IndexFunc(merged, func(q mergedPort) bool { return q.Name == p.Name })
			if i < 0 {
				i = slices.IndexFunc(merged, func(q mergedPort) bool { return q.Protocol == p.Protocol && q.Port == p.Port })
			}
			switch {
			case i >= 0 && samePort(merged[i].ServicePort, p):
			case i >= 0:
				dropped = append(dropped, fmt.Sprintf("%s's %s conflicts with %s from %s, which wins",
					m.ClusterID, describePort(p), describePort(merged[i].ServicePort), merged[i].from))
			case len(merged) > 0 && (p.Name == "" || merged[0].Name == ""):
				// A Service with several ports must name them all.
				dropped = append(dropped, fmt.Sprintf("%s's %s cannot join %s from %s: only a Service's single port may be unnamed",
					m.ClusterID, describePort(p), describePort(merged[0].ServicePort), merged[0].from))
			default:
				merged = append(merged, mergedPort{p, m.ClusterID})
			}
		}
	}
	out := make([]mcsv1alpha1.ServicePort, 0, len(merged))
	for _, p := range merged {
		out = append(out, p.ServicePort)
	}
	slices.SortFunc(out, comparePorts)

	winner := members[0]
	var differing []string
	for _, m := range members[1:] {
		if !slices.EqualFunc(m.ports, winner.ports, samePort) {
			differing = append(differing, m.ClusterID)
		}
	}
	if len(differing) == 0 {
		return out, ""
	}
	slices.Sort(differing)
	clause := fmt.Sprintf("ports: those of %s differ from those of %s (oldest export); exposing the union of all ports",
		strings.Join(differing, ", "), winner.ClusterID)
	if len(dropped) > 0 {
		clause += "; " + strings.Join(dropped, "; ")
	}
	return out, clause
}

// mergedField is a whole-service property decided by the oldest export.
type mergedField struct {
	name   string
	reason mcsv1alpha1.ServiceExportConditionReason
	// differs reports whether c's value conflicts with the winner w's.
	differs func(c, w *constituent) bool
	// show renders c's value for the message; nil when values are too long to print.
	show func(c *constituent) string
}

var mergedFields = []mergedField{
	{
		name: "type", reason: mcsv1alpha1.ServiceExportReasonTypeConflict,
		differs: func(c, w *constituent) bool { return c.importType != w.importType },
		show:    func(c *constituent) string { return string(c.importType) },
	},
	{
		name: "sessionAffinity", reason: mcsv1alpha1.ServiceExportReasonSessionAffinityConflict,
		differs: func(c, w *constituent) bool { return sessionAffinity(c.Service) != sessionAffinity(w.Service) },
		show:    func(c *constituent) string { return string(sessionAffinity(c.Service)) },
	},
	{
		// Only exports that agree on ClientIP affinity can disagree on its timeout;
		// an affinity mismatch is already a SessionAffinityConflict.
		name: "sessionAffinityConfig", reason: mcsv1alpha1.ServiceExportReasonSessionAffinityConfigConflict,
		differs: func(c, w *constituent) bool {
			return sessionAffinity(c.Service) == sessionAffinity(w.Service) &&
				clientIPTimeout(c.Service) != clientIPTimeout(w.Service)
		},
		show: func(c *constituent) string {
			return "clientIP.timeoutSeconds=" + strconv.Itoa(int(clientIPTimeout(c.Service)))
		},
	},
	{
		name: "internalTrafficPolicy", reason: mcsv1alpha1.ServiceExportReasonInternalTrafficPolicyConflict,
		differs: func(c, w *constituent) bool {
			return internalTrafficPolicy(c.Service) != internalTrafficPolicy(w.Service)
		},
		show: func(c *constituent) string { return string(internalTrafficPolicy(c.Service)) },
	},
	{
		name: "trafficDistribution", reason: mcsv1alpha1.ServiceExportReasonTrafficDistributionConflict,
		differs: func(c, w *constituent) bool {
			return !stringPtrEqual(c.Service.Spec.TrafficDistribution, w.Service.Spec.TrafficDistribution)
		},
		show: func(c *constituent) string {
			if c.Service.Spec.TrafficDistribution == nil {
				return "unset"
			}
			return *c.Service.Spec.TrafficDistribution
		},
	},
	{
		name: "exportedAnnotations", reason: mcsv1alpha1.ServiceExportReasonAnnotationsConflict,
		differs: func(c, w *constituent) bool {
			return !maps.Equal(c.Export.Spec.ExportedAnnotations, w.Export.Spec.ExportedAnnotations)
		},
	},
	{
		name: "exportedLabels", reason: mcsv1alpha1.ServiceExportReasonLabelsConflict,
		differs: func(c, w *constituent) bool {
			return !maps.Equal(c.Export.Spec.ExportedLabels, w.Export.Spec.ExportedLabels)
		},
	},
}

// fieldConflicts returns the reasons and message clauses of every merged
// field on which some member differs from the winner (members[0]).
func fieldConflicts(members []constituent) (reasons, clauses []string) {
	w := &members[0]
	for _, f := range mergedFields {
		var others []string
		for i := range members[1:] {
			c := &members[1+i]
			if !f.differs(c, w) {
				continue
			}
			if f.show == nil {
				others = append(others, c.ClusterID)
			} else {
				others = append(others, c.ClusterID+" has "+f.show(c))
			}
		}
		if len(others) == 0 {
			continue
		}
		slices.Sort(others)
		won := fmt.Sprintf("using the value of %s (oldest export)", w.ClusterID)
		if f.show != nil {
			won = fmt.Sprintf("using %s from %s (oldest export)", f.show(w), w.ClusterID)
		}
		reasons = append(reasons, string(f.reason))
		clauses = append(clauses, fmt.Sprintf("%s: %s; %s", f.name, strings.Join(others, ", "), won))
	}
	return reasons, clauses
}

// sessionAffinity is the Service's affinity with the apiserver's default applied.
func sessionAffinity(svc *corev1.Service) corev1.ServiceAffinity {
	if svc.Spec.SessionAffinity == "" {
		return corev1.ServiceAffinityNone
	}
	return svc.Spec.SessionAffinity
}

// clientIPTimeout is the ClientIP affinity timeout with the apiserver's
// default applied, 0 when the affinity is not ClientIP.
func clientIPTimeout(svc *corev1.Service) int32 {
	if sessionAffinity(svc) != corev1.ServiceAffinityClientIP {
		return 0
	}
	if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		return *c.ClientIP.TimeoutSeconds
	}
	return corev1.DefaultClientIPServiceAffinitySeconds
}

// internalTrafficPolicy is the Service's policy with the apiserver's default applied.
func internalTrafficPolicy(svc *corev1.Service) corev1.ServiceInternalTrafficPolicy {
	if svc.Spec.InternalTrafficPolicy == nil {
		return corev1.ServiceInternalTrafficPolicyCluster
	}
	return *svc.Spec.InternalTrafficPolicy
}

// ipFamilyConflict returns the IPFamilyConflict message clause when the
// members' family sets differ (members whose Service names no family are
// unknown and left out), "" otherwise. The merge then imports the union, and
// traffic of each family reaches only the clusters that serve it: the case
// mcs-api requires the condition for.
func ipFamilyConflict(members []constituent, merged []corev1.IPFamily) string {
	w := familySet(members[0].Service)
	var others []string
	for _, m := range members[1:] {
		if f := familySet(m.Service); f != "" && w != "" && f != w {
			others = append(others, m.ClusterID+" has "+f)
		}
	}
	if len(others) == 0 {
		return ""
	}
	slices.Sort(others)
	return fmt.Sprintf("ipFamilies: %s, %s (oldest export) has %s; importing %s, each family reaching only the clusters that serve it",
		strings.Join(others, ", "), members[0].ClusterID, w, joinFamilies(merged))
}

// familySet renders a Service's IP families as a sorted set ("IPv4+IPv6").
func familySet(svc *corev1.Service) string {
	f := slices.Clone(svc.Spec.IPFamilies)
	slices.Sort(f)
	return joinFamilies(slices.Compact(f))
}

// ipFamilies is the union of the members' IP families in precedence order.
func ipFamilies(members []constituent) []corev1.IPFamily {
	var out []corev1.IPFamily
	for _, m := range members {
		for _, f := range m.Service.Spec.IPFamilies {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// maxConditionMessage is metav1.Condition's limit on message length; a status
// with a longer message would be refused by the apiserver.
const maxConditionMessage = 32768

// truncate shortens s to at most limit bytes, marking the cut.
func truncate(s string, limit int) string {
	const mark = " ..."
	if len(s) <= limit {
		return s
	}
	cut := limit - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

func ptrTo[T any](v T) *T { return &v }

// clonePtr copies what p points to, so that outputs never alias inputs.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptrTo(*p)
}

func stringPtrEqual(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
