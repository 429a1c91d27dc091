package controller

import (
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
)

// membership is what the controller knows about the clusters an import may name.
type membership struct {
	// synced are admitted members whose caches have synced: their view is decisive.
	synced map[string]bool
	// joining are admitted members whose caches are still syncing.
	joining map[string]bool
	// removed left the configuration (RemoveMember) and have not been admitted again.
	removed map[string]bool
	// undecided counts configured member candidates whose identity is not known yet.
	undecided int
}

// unknown reports whether cluster id, named by an import's status.clusters but exporting
// nothing in the synced view, must be assumed to export still: it is configured but not
// seen. A synced member that exports nothing has unexported; a removed member, or any
// unadmitted one once every candidate is identified, has left the configuration.
func (m membership) unknown(id string) bool {
	switch {
	case m.synced[id], m.removed[id]:
		return false
	case m.joining[id]:
		return true
	default:
		return m.undecided > 0
	}
}

// The creation times given to a kept export: it wins the merge, or loses to every export
// the syncer sees.
var (
	keptOldest   = metav1.Time{}
	keptYoungest = metav1.NewTime(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
)

// keptExport stands in for the export of a cluster the syncer cannot see. It is built from
// the import a target holds, which is the merge of every export when it was written, and so
// keeps the import's type, ports, session affinity, traffic policies, IP families and
// exported labels and annotations. Its source slices are the cluster's mirrored slices in
// that target (see asSource); with none, it is withdrawn: its endpoints leave.
func keptExport(id string, si *mcsv1alpha1.ServiceImport, created metav1.Time, sources []*discoveryv1.EndpointSlice) desired.ClusterExport {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: si.Namespace, Name: si.Name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       si.Spec.SessionAffinity,
			SessionAffinityConfig: si.Spec.SessionAffinityConfig.DeepCopy(),
			InternalTrafficPolicy: si.Spec.InternalTrafficPolicy,
			TrafficDistribution:   si.Spec.TrafficDistribution,
			IPFamilies:            si.Spec.IPFamilies,
		},
	}
	if si.Spec.Type == mcsv1alpha1.Headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	for _, p := range si.Spec.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{
			Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port,
		})
	}
	labels, annotations := maps.Clone(si.Labels), maps.Clone(si.Annotations)
	delete(labels, desired.ManagedByLabel)
	delete(annotations, desired.DerivedServiceAnnotation)
	export := &mcsv1alpha1.ServiceExport{
		ObjectMeta: metav1.ObjectMeta{Namespace: si.Namespace, Name: si.Name, CreationTimestamp: created},
		Spec:       mcsv1alpha1.ServiceExportSpec{ExportedLabels: labels, ExportedAnnotations: annotations},
	}
	return desired.ClusterExport{ClusterID: id, Export: export, Service: svc, Slices: sources, Withdrawn: len(sources) == 0}
}

// asSource turns the slices mirrored from cluster back into source slices of service, so
// that mirroring them again gives the same slices: a kept cluster's endpoints stay as they
// are.
func asSource(mirrored []*discoveryv1.EndpointSlice, cluster, service string) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	for _, m := range mirrored {
		if m.Labels[mcsv1alpha1.LabelSourceCluster] != cluster {
			continue
		}
		out = append(out, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: m.Namespace, Name: m.Name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: m.AddressType,
			Endpoints:   m.Endpoints,
			Ports:       m.Ports,
		})
	}
	return out
}

// keptCreation decides where kept exports rank in the merge. Their true age is unknown; what
// is known is that the import holds the values of the oldest export at the time it was
// written. When the exports the syncer sees would decide those values differently, the
// oldest export must have been one it cannot see, and the kept export wins; otherwise it
// ranks last, so that it changes nothing. (A visible winner that changes a value while
// another exporter is unknown is thus held at the old value until that exporter is seen.)
func keptCreation(si *mcsv1alpha1.ServiceImport, visible *desired.Service) metav1.Time {
	if visible == nil {
		return keptOldest
	}
	k := keptExport("", si, keptOldest, nil)
	sp := &si.Spec
	same := sp.Type == visible.Type && sp.SessionAffinity == visible.SessionAffinity &&
		apiequality.Semantic.DeepEqual(sp.SessionAffinityConfig, visible.SessionAffinityConfig) &&
		apiequality.Semantic.DeepEqual(sp.InternalTrafficPolicy, visible.InternalTrafficPolicy) &&
		apiequality.Semantic.DeepEqual(sp.TrafficDistribution, visible.TrafficDistribution) &&
		maps.Equal(k.Export.Spec.ExportedLabels, visible.Labels) &&
		maps.Equal(k.Export.Spec.ExportedAnnotations, visible.Annotations)
	if same {
		return keptYoungest
	}
	return keptOldest
}
