package inspect

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/liveness"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const ns = "demo"

func cond(t mcsv1alpha1.ServiceExportConditionType, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: string(t), Status: status, Reason: reason, Message: msg}
}

// healthy are the conditions of a valid, ready export without conflicts.
var healthy = []metav1.Condition{
	cond(mcsv1alpha1.ServiceExportConditionValid, metav1.ConditionTrue, "Valid", "the Service can be exported as ClusterSetIP"),
	cond(mcsv1alpha1.ServiceExportConditionReady, metav1.ConditionTrue, "Exported", "the service is exported"),
	cond(mcsv1alpha1.ServiceExportConditionConflict, metav1.ConditionFalse, "NoConflicts", "no conflicts with the other exports"),
}

func export(name string, age time.Duration, conds ...metav1.Condition) mcsv1alpha1.ServiceExport {
	return mcsv1alpha1.ServiceExport{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age))},
		Status:     mcsv1alpha1.ServiceExportStatus{Conditions: conds},
	}
}

// managedImport is a ServiceImport as the syncer writes it, recording its exporters.
func managedImport(name string, t mcsv1alpha1.ServiceImportType, ips []string, exporters ...string) mcsv1alpha1.ServiceImport {
	si := mcsv1alpha1.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels:      map[string]string{desired.ManagedByLabel: desired.ManagerName},
			Annotations: map[string]string{desired.DerivedServiceAnnotation: desired.DerivedServiceName(name)},
		},
		Spec: mcsv1alpha1.ServiceImportSpec{Type: t, IPs: ips},
	}
	for _, c := range exporters {
		si.Status.Clusters = append(si.Status.Clusters, mcsv1alpha1.ClusterStatus{Cluster: c})
	}
	return si
}

func derivedService(name string, ips ...string) corev1.Service {
	svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: desired.DerivedServiceName(name)}}
	svc.Spec.ClusterIPs = ips
	if len(ips) > 0 {
		svc.Spec.ClusterIP = ips[0]
	} else {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	return svc
}

// mirrored is a mirrored slice of service name from source: ready and not-ready endpoint
// addresses (IPv4).
func mirrored(name, source string, ready, notReady []string) discoveryv1.EndpointSlice {
	es := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: desired.DerivedServiceName(name) + "-" + source, Labels: map[string]string{
			mcsv1alpha1.LabelServiceName: name, mcsv1alpha1.LabelSourceCluster: source,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, a := range ready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	for _, a := range notReady {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}})
	}
	return es
}

func heartbeat(holder string, renewedAgo time.Duration, duration int32, version string) *coordinationv1.Lease {
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "clusterset-system", Name: liveness.LeaseName},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(duration),
			RenewTime: ptr.To(metav1.NewMicroTime(now.Add(-renewedAgo))),
		},
	}
	if version != "" {
		l.Annotations = map[string]string{liveness.VersionAnnotation: version}
	}
	return l
}

func deployment(ready, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{ReadyReplicas: ready},
	}
}

// member is a reachable member of clusterset-1 with the namespaces default and demo and a
// fresh heartbeat; edit adjusts it.
func member(id string, edit ...func(*Snapshot)) Snapshot {
	s := Snapshot{
		Member: id, ClusterID: id, ClusterSet: "clusterset-1",
		Namespaces: []string{"default", ns},
		Heartbeat:  heartbeat(id, 3*time.Second, 60, "v1.0.0"),
	}
	for _, e := range edit {
		e(&s)
	}
	return s
}

func unreachable(name string) Snapshot {
	return Snapshot{Member: name, Unreachable: "no answer within 2s"}
}
