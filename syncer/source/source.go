// Package source caches what one member cluster exports: its ServiceExports, its Services and
// the EndpointSlices of its Services, and turns that into the desired package's input for one
// (namespace, name). Objects the syncer itself wrote (derived Services, mirrored slices) are
// never sources. The caches keep only the fields the syncer reads, and an update that
// changes none of them (a status another syncer wrote, a label, a relist) schedules nothing.
package source

import (
	"context"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
	"github.com/clusterset/clusterset/syncer/recentwrites"
)

// Selectors that leave out the syncer's own objects, evaluated by the apiserver.
var (
	notDerivedService = desired.ManagedByLabel + "!=" + desired.ManagerName
	notMirroredSlice  = discoveryv1.LabelManagedBy + "!=" + desired.ManagerName
)

// Cluster is the source cache of one member.
type Cluster struct {
	ID   string
	Kube kubernetes.Interface
	MCS  mcsclient.Interface
	// Target: see Options.
	Target  bool
	exports cache.SharedIndexInformer
	svcs    cache.SharedIndexInformer
	slices  cache.SharedIndexInformer
	// Exports overlays the status writes of the syncer on the export cache.
	Exports *recentwrites.Store[*mcsv1alpha1.ServiceExport]
	// exportsVersion counts exports added and deleted, so that what is derived from the
	// set of exports (the per-member limit) is recomputed only when it changes;
	// exportsCount is how many are cached.
	exportsVersion atomic.Uint64
	exportsCount   atomic.Int64
}

// Options say how the syncer uses a member.
type Options struct {
	// Target: the syncer also writes into this member (the local cluster in pull mode,
	// every member in hub mode). It then writes the status of the member's exports, and the
	// member's endpoints are that target's own, which keep nodeName and targetRef.
	Target bool
}

// New builds the informers of one member. enqueue receives the "namespace/name" key of
// every exported service whose sources change in what the syncer reads of them.
func New(id string, kube kubernetes.Interface, mcs mcsclient.Interface, enqueue func(key string), o Options) *Cluster {
	byService := informers.ServiceIndex(discoveryv1.LabelServiceName)
	c := &Cluster{
		ID:     id,
		Kube:   kube,
		MCS:    mcs,
		Target: o.Target,
		exports: informers.ServiceExports(mcs, informers.Config{Transform: trimExport,
			Indexers: cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}}),
		svcs: informers.Services(kube, informers.Config{Selector: notDerivedService, Transform: trimService}),
		slices: informers.EndpointSlices(kube, informers.Config{Selector: notMirroredSlice, Transform: sliceTrimmer(o.Target),
			Indexers: byService}),
	}
	c.Exports = recentwrites.New[*mcsv1alpha1.ServiceExport](c.exports.GetIndexer(), time.Minute)
	// Export events matter unless they are the echo of the syncer's own status write, or
	// change nothing it reads; Service and slice events only for exported services.
	onExport := func(obj any, deleted bool) {
		if !c.Exports.Observe(obj, deleted) {
			enqueueKey(obj, enqueue)
		}
	}
	var ignore func(*mcsv1alpha1.ServiceExport)
	if !o.Target {
		ignore = ignoreStatus
	}
	onExportChanged := updated(ignore, func(obj any) { enqueueKey(obj, enqueue) })
	_, _ = c.exports.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.exportsCount.Add(1); c.exportsVersion.Add(1); onExport(obj, false) },
		UpdateFunc: func(oldObj, obj any) {
			if !c.Exports.Observe(obj, false) {
				onExportChanged(oldObj, obj)
			}
		},
		DeleteFunc: func(obj any) { c.exportsCount.Add(-1); c.exportsVersion.Add(1); onExport(obj, true) },
	})
	ifExported := func(key string) {
		if _, ok, _ := c.exports.GetIndexer().GetByKey(key); ok {
			enqueue(key)
		}
	}
	onService := func(obj any) { enqueueKey(obj, ifExported) }
	_, _ = c.svcs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onService, UpdateFunc: updated[corev1.Service](nil, onService), DeleteFunc: onService,
	})
	onSlice := func(obj any) {
		keys, _ := byService[informers.ByService](obj)
		for _, k := range keys {
			ifExported(k)
		}
	}
	_, _ = c.slices.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onSlice, UpdateFunc: updated[discoveryv1.EndpointSlice](nil, onSlice), DeleteFunc: onSlice,
	})
	return c
}

// Run runs the informers until ctx ends.
func (c *Cluster) Run(ctx context.Context) {
	go c.exports.RunWithContext(ctx)
	go c.svcs.RunWithContext(ctx)
	go c.slices.RunWithContext(ctx)
}

// HasSynced reports whether every informer has listed once.
func (c *Cluster) HasSynced() bool {
	return c.exports.HasSynced() && c.svcs.HasSynced() && c.slices.HasSynced()
}

// Export returns this cluster's view of the exported service key ("namespace/name"), and
// false when the cluster does not export it. The objects are cache objects: read only.
func (c *Cluster) Export(key string) (desired.ClusterExport, bool) {
	export, ok := c.Exports.Get(key)
	if !ok {
		return desired.ClusterExport{}, false
	}
	ce := desired.ClusterExport{ClusterID: c.ID, Export: export}
	if obj, ok, _ := c.svcs.GetIndexer().GetByKey(key); ok {
		ce.Service = obj.(*corev1.Service)
	}
	objs, _ := c.slices.GetIndexer().ByIndex(informers.ByService, key)
	for _, o := range objs {
		ce.Slices = append(ce.Slices, o.(*discoveryv1.EndpointSlice))
	}
	return ce, true
}

// ExportsVersion changes whenever an export is added or deleted.
func (c *Cluster) ExportsVersion() uint64 { return c.exportsVersion.Load() }

// ExportCount is the number of cached exports, as of ExportsVersion.
func (c *Cluster) ExportCount() int { return int(c.exportsCount.Load()) }

// ListExports returns every cached export. The objects are cache objects: read only.
func (c *Cluster) ListExports() []*mcsv1alpha1.ServiceExport {
	objs := c.exports.GetIndexer().List()
	out := make([]*mcsv1alpha1.ServiceExport, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*mcsv1alpha1.ServiceExport))
	}
	return out
}

// ExportKeys lists the keys of every cached export.
func (c *Cluster) ExportKeys() []string {
	return c.exports.GetIndexer().ListKeys()
}

// ExportKeysIn lists the keys of the cached exports of namespace.
func (c *Cluster) ExportKeysIn(namespace string) []string {
	keys, _ := c.exports.GetIndexer().IndexKeys(cache.NamespaceIndex, namespace)
	return keys
}

func enqueueKey(obj any, enqueue func(string)) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		enqueue(key)
	}
}
