// Package informers builds the syncer's informers: list/watch wrapped for client-go's
// WatchList semantics (mcs-api's generated clients never sync without it), a transform that
// drops what the syncer never reads, and the by-service index.
package informers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// ByService is the name of the index mapping an object to "namespace/service", the key of
// the exported service it belongs to.
const ByService = "byService"

// ServiceIndex indexes objects by namespace and the value of the given label, the service
// they belong to. Objects without the label are not indexed.
func ServiceIndex(label string) cache.Indexers {
	return cache.Indexers{ByService: func(obj any) ([]string, error) {
		m, err := metaOf(obj)
		if err != nil {
			return nil, err
		}
		svc, ok := m.GetLabels()[label]
		if !ok {
			return nil, nil
		}
		return []string{m.GetNamespace() + "/" + svc}, nil
	}}
}

// Config selects the objects an informer caches.
type Config struct {
	// Selector is a label selector, evaluated by the apiserver.
	Selector string
	Indexers cache.Indexers
	// Transform replaces Trim as the informer's transform.
	Transform cache.TransformFunc
}

// Services caches Services.
func Services(client kubernetes.Interface, c Config) cache.SharedIndexInformer {
	return newInformer(client, &corev1.Service{}, c,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Services(metav1.NamespaceAll).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Services(metav1.NamespaceAll).Watch(ctx, o)
		})
}

// EndpointSlices caches EndpointSlices.
func EndpointSlices(client kubernetes.Interface, c Config) cache.SharedIndexInformer {
	return newInformer(client, &discoveryv1.EndpointSlice{}, c,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.DiscoveryV1().EndpointSlices(metav1.NamespaceAll).Watch(ctx, o)
		})
}

// Namespaces caches Namespaces.
func Namespaces(client kubernetes.Interface, c Config) cache.SharedIndexInformer {
	return newInformer(client, &corev1.Namespace{}, c,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Namespaces().List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Namespaces().Watch(ctx, o)
		})
}

// ServiceExports caches v1alpha1 ServiceExports.
func ServiceExports(client mcsclient.Interface, c Config) cache.SharedIndexInformer {
	return newInformer(client, &mcsv1alpha1.ServiceExport{}, c,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.MulticlusterV1alpha1().ServiceExports(metav1.NamespaceAll).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.MulticlusterV1alpha1().ServiceExports(metav1.NamespaceAll).Watch(ctx, o)
		})
}

// ServiceImports caches v1alpha1 ServiceImports, the version CoreDNS and Cilium read.
func ServiceImports(client mcsclient.Interface, c Config) cache.SharedIndexInformer {
	return newInformer(client, &mcsv1alpha1.ServiceImport{}, c,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.MulticlusterV1alpha1().ServiceImports(metav1.NamespaceAll).List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.MulticlusterV1alpha1().ServiceImports(metav1.NamespaceAll).Watch(ctx, o)
		})
}

func newInformer(client any, example runtime.Object, c Config,
	list cache.ListWithContextFunc, watchFunc cache.WatchFuncWithContext) cache.SharedIndexInformer {
	withSelector := func(o *metav1.ListOptions) { o.LabelSelector = c.Selector }
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			withSelector(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			withSelector(&o)
			return watchFunc(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, client), example,
		cache.SharedIndexInformerOptions{Indexers: c.Indexers})
	transform := c.Transform
	if transform == nil {
		transform = Trim
	}
	// SetTransform fails only once the informer has started.
	_ = inf.SetTransform(transform)
	return inf
}

// Trim is the default transform (member caches use their own, narrower ones). It drops the
// fields the syncer never reads, to keep the caches small: managedFields, and
// annotations of everything but ServiceImports (where the derived-service annotation is ours).
// Status is dropped from Services and Namespaces. Objects are modified in place, which is
// what informer transforms are for.
func Trim(obj any) (any, error) {
	m, err := metaOf(obj)
	if err != nil {
		return obj, nil // tombstones pass through
	}
	m.SetManagedFields(nil)
	switch o := obj.(type) {
	case *corev1.Service:
		o.Annotations = trimAnnotations(o.Annotations)
		o.Status = corev1.ServiceStatus{}
	case *corev1.Namespace:
		o.Annotations = nil
		o.Status = corev1.NamespaceStatus{}
	case *discoveryv1.EndpointSlice:
		o.Annotations = trimAnnotations(o.Annotations)
	case *mcsv1alpha1.ServiceExport:
		o.Annotations = nil
	}
	return obj, nil
}

// trimAnnotations keeps annotations on objects the syncer may write (derived Services, our
// slices), since the writer compares them, and drops the usual large one.
func trimAnnotations(a map[string]string) map[string]string {
	delete(a, corev1.LastAppliedConfigAnnotation)
	if len(a) == 0 {
		return nil
	}
	return a
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	return meta.Accessor(obj)
}
