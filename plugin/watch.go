package clusterset

import (
	"context"
	"reflect"
	"sync"
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

// byImport indexes cached slices by the "<ns>/<name>" key of the import they belong to.
const byImport = "import"

// source holds the informer caches the index is built from: every ServiceImport (v1alpha1), and
// only the EndpointSlices labelled multicluster.kubernetes.io/service-name, selected by the
// apiserver. It records which imports the events touched, so that only those are rebuilt.
type source struct {
	imports     cache.Store
	slices      cache.Indexer
	controllers []cache.Controller

	mu    sync.Mutex
	dirty map[string]struct{} // "<ns>/<name>" of imports whose answers may have changed
	// changed holds one pending signal at most, so a burst of events coalesces into one update.
	changed chan struct{}
}

func newSource(kube kubernetes.Interface, mc mcsclient.Interface) *source {
	s := &source{dirty: map[string]struct{}{}, changed: make(chan struct{}, 1)}

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
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { s.markChanged(importKey(obj)) },
			UpdateFunc: func(old, obj any) {
				if !sameAnswers(old, obj) {
					s.markChanged(importKey(obj))
				}
			},
			DeleteFunc: func(obj any) { s.markChanged(importKey(obj)) },
		},
		Transform: toCachedImport,
		Logger:    &klogLogger,
	})

	sliceAPI := kube.DiscoveryV1().EndpointSlices(metav1.NamespaceAll)
	withLabel := func(o metav1.ListOptions) metav1.ListOptions {
		o.LabelSelector = mcs.LabelServiceName // "exists": other slices never reach the cache
		return o
	}
	var slices cache.Store
	slices, sliceCtl = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return sliceAPI.List(ctx, withLabel(o))
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return sliceAPI.Watch(ctx, withLabel(o))
			},
		}, kube),
		ObjectType: &discovery.EndpointSlice{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc: func(obj any) { s.markChanged(sliceImportKey(obj)) },
			UpdateFunc: func(old, obj any) {
				if !sameAnswers(old, obj) {
					s.markChanged(sliceImportKey(old), sliceImportKey(obj))
				}
			},
			DeleteFunc: func(obj any) { s.markChanged(sliceImportKey(obj)) },
		},
		Indexers: cache.Indexers{byImport: func(obj any) ([]string, error) {
			if key := sliceImportKey(obj); key != "" {
				return []string{key}, nil
			}
			return nil, nil
		}},
		Transform: toCachedSlice,
		Logger:    &klogLogger,
	})
	s.slices = slices.(cache.Indexer) // the store of an informer with indexers is an Indexer
	s.controllers = []cache.Controller{importCtl, sliceCtl}
	return s
}

// sameAnswers reports whether an update changed nothing DNS answers from: the cached forms of old
// and obj differ at most in their resourceVersion. A no-op write, a status change or a relist
// then neither rebuilds the index nor bumps the SOA serial.
func sameAnswers(old, obj any) bool {
	switch o := old.(type) {
	case *cachedImport:
		n, ok := obj.(*cachedImport)
		return ok && equalButVersion(*o, *n, func(c *cachedImport) *cachedMeta { return &c.cachedMeta })
	case *cachedSlice:
		n, ok := obj.(*cachedSlice)
		return ok && equalButVersion(*o, *n, func(c *cachedSlice) *cachedMeta { return &c.cachedMeta })
	}
	return false
}

// equalButVersion compares copies of a and b without their resourceVersion, whatever fields the
// cached types gain.
func equalButVersion[T any](a, b T, meta func(*T) *cachedMeta) bool {
	meta(&a).resourceVersion, meta(&b).resourceVersion = "", ""
	return reflect.DeepEqual(a, b)
}

// importKey is the "<ns>/<name>" key of a cached import (or of its deletion tombstone).
func importKey(obj any) string {
	key, _ := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	return key
}

// sliceImportKey is the key of the import a cached slice belongs to.
func sliceImportKey(obj any) string {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*cachedSlice); ok && s.service != "" {
		return s.namespace + "/" + s.service
	}
	return ""
}

func (s *source) markChanged(keys ...string) {
	s.mu.Lock()
	for _, k := range keys {
		if k != "" {
			s.dirty[k] = struct{}{}
		}
	}
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// takeChanged returns the current state of every import touched since the last call:
// "<svc>.<ns>" -> its service, or nil when it is gone or cannot be named in DNS.
func (s *source) takeChanged() map[string]*service {
	select { // the caller handles every change signalled so far
	case <-s.changed:
	default:
	}
	s.mu.Lock()
	dirty := s.dirty
	s.dirty = map[string]struct{}{}
	s.mu.Unlock()

	changed := make(map[string]*service, len(dirty))
	for key := range dirty {
		ns, name, err := cache.SplitMetaNamespaceKey(key)
		if err != nil {
			continue
		}
		var svc *service
		if obj, ok, _ := s.imports.GetByKey(key); ok {
			var sl []*cachedSlice
			objs, _ := s.slices.ByIndex(byImport, key)
			for _, o := range objs {
				sl = append(sl, o.(*cachedSlice))
			}
			if v, ok := newService(obj.(*cachedImport), sl); ok {
				svc = &v
			}
		}
		changed[name+"."+ns] = svc
	}
	return changed
}

// run starts the informers and, once they have synced, calls update with every import, then
// again with the imports that changed, until ctx is done. An update is followed by a pause as
// long as it took, which bounds updating to half a CPU under a constant stream of events while
// keeping small updates prompt.
func (s *source) run(ctx context.Context, update func(changed map[string]*service)) {
	synced := make([]cache.InformerSynced, 0, len(s.controllers))
	for _, c := range s.controllers {
		go c.RunWithContext(ctx)
		synced = append(synced, c.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return
	}
	for {
		start := time.Now()
		update(s.takeChanged()) // the first one holds every import: each was added
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
