package target

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
)

// Import returns the ServiceImport this syncer manages for key ("namespace/name"), as last
// seen or written. It tells a syncer that cannot see every member who exported what. The
// object is shared: read only.
func (c *Cluster) Import(key string) (*mcsv1alpha1.ServiceImport, bool) {
	si, ok := c.importStore.Get(key)
	if !ok || !desired.IsManaged(si) {
		return nil, false
	}
	return si, true
}

// MirroredSlices returns the EndpointSlices this syncer wrote for key, as last seen or
// written. The objects are shared: read only.
func (c *Cluster) MirroredSlices(key string) []*discoveryv1.EndpointSlice {
	return c.sliceStore.ByIndex(informers.ByService, key)
}

// ImportsListing returns the keys of the managed ServiceImports whose status.clusters name
// cluster.
func (c *Cluster) ImportsListing(cluster string) []string {
	var keys []string
	for _, obj := range c.imports.GetIndexer().List() {
		si := obj.(*mcsv1alpha1.ServiceImport)
		if !desired.IsManaged(si) {
			continue
		}
		for _, cl := range si.Status.Clusters {
			if cl.Cluster == cluster {
				keys = append(keys, si.Namespace+"/"+si.Name)
				break
			}
		}
	}
	return keys
}

// ListImports returns the ServiceImports this syncer manages, from the cache. The objects
// are shared: read only.
func (c *Cluster) ListImports() []*mcsv1alpha1.ServiceImport {
	var out []*mcsv1alpha1.ServiceImport
	for _, obj := range c.imports.GetIndexer().List() {
		if si := obj.(*mcsv1alpha1.ServiceImport); desired.IsManaged(si) {
			out = append(out, si)
		}
	}
	return out
}

// ListMirroredSlices returns every EndpointSlice this syncer mirrored, from the cache. The
// objects are shared: read only.
func (c *Cluster) ListMirroredSlices() []*discoveryv1.EndpointSlice {
	objs := c.slices.GetIndexer().List()
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, obj := range objs {
		out = append(out, obj.(*discoveryv1.EndpointSlice))
	}
	return out
}
