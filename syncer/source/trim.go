package source

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// A member's caches hold only what the syncer reads of its objects: every syncer caches
// every member's Services and EndpointSlices, so each byte kept is paid N² times across a
// clusterset. The transforms below copy what is read into a fresh object (what they leave
// out is freed with the decoded one), and the update filters compare those copies: an
// update that changes nothing the syncer reads is not worth a reconcile.
//
// Readers of the cached objects (keep these in step when one starts reading more):
//   - ServiceExport: the merge (creationTimestamp, generation, spec), the export limit
//     (namespace, name, creationTimestamp), the status writer (status, resourceVersion; a
//     status update ignores the rest), Events (uid), the overlay of own writes (uid,
//     resourceVersion).
//   - Service: the merge and the mirrored slices (spec: type, clusterIP, ports without
//     targetPort and nodePort, sessionAffinity and its config, internalTrafficPolicy,
//     trafficDistribution, ipFamilies).
//   - EndpointSlice: the by-service index and IsManaged (two labels), the endpoint limit
//     (name, endpoints), the mirrored slices (addressType, ports, and per endpoint
//     addresses, conditions, hostname, zone, and on a target's own endpoints nodeName and
//     targetRef without its resourceVersion).

// trimExport keeps what is read of a ServiceExport.
func trimExport(obj any) (any, error) {
	se, ok := obj.(*mcsv1alpha1.ServiceExport)
	if !ok {
		return obj, nil // tombstones pass through
	}
	return &mcsv1alpha1.ServiceExport{
		TypeMeta: se.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace: se.Namespace, Name: se.Name, UID: se.UID, ResourceVersion: se.ResourceVersion,
			Generation: se.Generation, CreationTimestamp: se.CreationTimestamp,
		},
		Spec:   se.Spec,
		Status: se.Status,
	}, nil
}

// trimService keeps what is read of a member's Service.
func trimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	s := &svc.Spec
	out := &corev1.Service{
		TypeMeta:   svc.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID, ResourceVersion: svc.ResourceVersion},
		Spec: corev1.ServiceSpec{
			Type: s.Type, ClusterIP: s.ClusterIP,
			SessionAffinity: s.SessionAffinity, SessionAffinityConfig: s.SessionAffinityConfig,
			InternalTrafficPolicy: s.InternalTrafficPolicy, TrafficDistribution: s.TrafficDistribution,
			IPFamilies: s.IPFamilies,
		},
	}
	if len(s.Ports) > 0 {
		out.Spec.Ports = make([]corev1.ServicePort, len(s.Ports))
		for i, p := range s.Ports {
			out.Spec.Ports[i] = corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port}
		}
	}
	return out, nil
}

// sliceTrimmer returns the transform keeping what is read of a member's EndpointSlice;
// nodeName and targetRef only when the member's endpoints are a target's own. The values
// that many endpoints share (conditions, zones, node names) point at one copy: cached
// objects are read only.
func sliceTrimmer(keepNodeRefs bool) func(obj any) (any, error) {
	var mu sync.Mutex
	shared := map[string]*string{}
	share := func(s *string) *string {
		if s == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		if p, ok := shared[*s]; ok {
			return p
		}
		if len(shared) >= maxSharedStrings {
			return s
		}
		shared[*s] = s
		return s
	}
	return func(obj any) (any, error) {
		sl, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return obj, nil
		}
		out := &discoveryv1.EndpointSlice{
			TypeMeta: sl.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{Namespace: sl.Namespace, Name: sl.Name, UID: sl.UID, ResourceVersion: sl.ResourceVersion,
				Labels: keptLabels(sl.Labels, discoveryv1.LabelServiceName, discoveryv1.LabelManagedBy)},
			AddressType: sl.AddressType,
			Ports:       sl.Ports,
		}
		if len(sl.Endpoints) > 0 {
			out.Endpoints = make([]discoveryv1.Endpoint, len(sl.Endpoints))
		}
		for i, ep := range sl.Endpoints {
			kept := discoveryv1.Endpoint{Addresses: ep.Addresses, Hostname: ep.Hostname, Zone: share(ep.Zone),
				Conditions: discoveryv1.EndpointConditions{
					Ready: sharedBool(ep.Conditions.Ready), Serving: sharedBool(ep.Conditions.Serving),
					Terminating: sharedBool(ep.Conditions.Terminating),
				}}
			if keepNodeRefs {
				kept.NodeName = share(ep.NodeName)
				if ep.TargetRef != nil {
					ref := *ep.TargetRef
					ref.ResourceVersion = "" // changes on every Pod update; never mirrored
					kept.TargetRef = &ref
				}
			}
			out.Endpoints[i] = kept
		}
		return out, nil
	}
}

// maxSharedStrings bounds the values one slice transform shares: zones and node names are
// few, but a member chooses them.
const maxSharedStrings = 10000

var boolValues = [2]bool{false, true}

// sharedBool returns a pointer to a shared copy of *b.
func sharedBool(b *bool) *bool {
	switch {
	case b == nil:
		return nil
	case *b:
		return &boolValues[1]
	}
	return &boolValues[0]
}

// keptLabels returns the labels of keys that labels has.
func keptLabels(labels map[string]string, keys ...string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := labels[k]; ok {
			if out == nil {
				out = make(map[string]string, len(keys))
			}
			out[k] = v
		}
	}
	return out
}

// changed reports whether an update of a cached (trimmed) object changes what the syncer
// reads: anything but its resourceVersion and what ignore clears (nil: nothing).
func changed[T any, P interface {
	*T
	SetResourceVersion(string)
}](old, updated P, ignore func(P)) bool {
	a, b := *old, *updated
	P(&a).SetResourceVersion("")
	P(&b).SetResourceVersion("")
	if ignore != nil {
		ignore(&a)
		ignore(&b)
	}
	return !apiequality.Semantic.DeepEqual(a, b)
}

// ignoreStatus clears an export's status: only the syncer that writes it reads it, and the
// other syncers' status writes are no reason for a reconcile.
func ignoreStatus(se *mcsv1alpha1.ServiceExport) { se.Status = mcsv1alpha1.ServiceExportStatus{} }

// updated is an informer update handler calling on with the new object when it changes
// what the syncer reads.
func updated[T any, P interface {
	*T
	SetResourceVersion(string)
}](ignore func(P), on func(obj any)) func(oldObj, obj any) {
	return func(oldObj, obj any) {
		o, okOld := oldObj.(P)
		n, okNew := obj.(P)
		if !okOld || !okNew || changed(o, n, ignore) {
			on(obj)
		}
	}
}
