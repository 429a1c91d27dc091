package clusterset

import (
	"context"
	"time"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// source holds the informer caches the index is built from: every ServiceImport (v1alpha1), and
// only the EndpointSlices labelled multicluster.kubernetes.io/service-name, selected by the
// apiserver. Both caches keep stripped objects (see stripServiceImport, stripEndpointSlice).
type source struct {
	imports, slices cache.Store
	controllers     []cache.Controller
	// changed holds one pending signal at most, so a burst of events coalesces into one rebuild.
	changed chan struct{}
}

func newSource(kube kubernetes.Interface, mc mcsclient.Interface) *source {
	s := &source{changed: make(chan struct{}, 1)}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.markChanged() },
		UpdateFunc: func(any, any) { s.markChanged() },
		DeleteFunc: func(any) { s.markChanged() },
	}

	importAPI := mc.MulticlusterV1alpha1().ServiceImports(metav1.NamespaceAll)
	var importCtl, sliceCtl cache.Controller
	s.imports, importCtl = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return importAPI.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return importAPI.Watch(ctx, o)
			},
		}, mc),
		ObjectType: &mcs.ServiceImport{},
		Handler:    handler,
		Transform:  stripServiceImport,
	})

	sliceAPI := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceAll)
	withLabel := func(o metav1.ListOptions) metav1.ListOptions {
		o.LabelSelector = mcs.LabelServiceName // "exists": other slices never reach the cache
		return o
	}
	s.slices, sliceCtl = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return sliceAPI.List(ctx, withLabel(o))
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return sliceAPI.Watch(ctx, withLabel(o))
			},
		}, kube),
		ObjectType: &discovery.EndpointSlice{},
		Handler:    handler,
		Transform:  stripEndpointSlice,
	})
	s.controllers = []cache.Controller{importCtl, sliceCtl}
	return s
}

func (s *source) markChanged() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// run starts the informers and calls rebuild once they have synced, then again after changes,
// until ctx is done. A rebuild is followed by a pause as long as the rebuild took, which bounds
// rebuilding to half a CPU under a constant stream of events while keeping small indexes prompt.
func (s *source) run(ctx context.Context, rebuild func(imports []*mcs.ServiceImport, slices []*discovery.EndpointSlice)) {
	synced := make([]cache.InformerSynced, 0, len(s.controllers))
	for _, c := range s.controllers {
		go c.RunWithContext(ctx)
		synced = append(synced, c.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	for {
		select { // this rebuild covers every change signalled so far
		case <-s.changed:
		default:
		}
		start := time.Now()
		rebuild(listAs[*mcs.ServiceImport](s.imports), listAs[*discovery.EndpointSlice](s.slices))
		pause := time.NewTimer(time.Since(start))
		select {
		case <-ctx.Done():
			pause.Stop()
			return
		case <-pause.C:
		}
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		}
	}
}

func listAs[T any](store cache.Store) []T {
	items := store.List()
	out := make([]T, 0, len(items))
	for _, it := range items {
		if t, ok := it.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// stripServiceImport keeps only what the index reads, so the cache holds no managedFields,
// annotations, status or unused spec fields.
func stripServiceImport(obj any) (any, error) {
	si, ok := obj.(*mcs.ServiceImport)
	if !ok {
		return obj, nil // e.g. cache.DeletedFinalStateUnknown, which wraps an already stripped object
	}
	ports := make([]mcs.ServicePort, len(si.Spec.Ports))
	for i, p := range si.Spec.Ports {
		ports[i] = mcs.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port}
	}
	return &mcs.ServiceImport{
		ObjectMeta: metav1.ObjectMeta{Name: si.Name, Namespace: si.Namespace, ResourceVersion: si.ResourceVersion},
		Spec:       mcs.ServiceImportSpec{Type: si.Spec.Type, IPs: si.Spec.IPs, Ports: ports},
	}, nil
}

// stripEndpointSlice keeps the two MCS labels, the ports and, per endpoint, the addresses, the
// ready condition and the hostname.
func stripEndpointSlice(obj any) (any, error) {
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	labels := make(map[string]string, 2)
	for _, k := range []string{mcs.LabelServiceName, mcs.LabelSourceCluster} {
		if v, ok := es.Labels[k]; ok {
			labels[k] = v
		}
	}
	eps := make([]discovery.Endpoint, len(es.Endpoints))
	for i, ep := range es.Endpoints {
		eps[i] = discovery.Endpoint{
			Addresses:  ep.Addresses,
			Conditions: discovery.EndpointConditions{Ready: ep.Conditions.Ready},
			Hostname:   ep.Hostname,
		}
	}
	ports := make([]discovery.EndpointPort, len(es.Ports))
	for i, p := range es.Ports {
		ports[i] = discovery.EndpointPort{Name: p.Name, Protocol: p.Protocol, Port: p.Port}
	}
	return &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: es.Name, Namespace: es.Namespace, ResourceVersion: es.ResourceVersion, Labels: labels},
		AddressType: es.AddressType,
		Endpoints:   eps,
		Ports:       ports,
	}, nil
}
