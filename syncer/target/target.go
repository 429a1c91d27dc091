// Package target writes one exported service's derived objects into one target cluster: the
// derived Service, the ServiceImport (spec and status) and the mirrored EndpointSlices. It
// reads what is there from informers over the syncer's own objects, overlaid with its recent
// writes, and writes only what differs, so that a resync makes no write. Objects without the
// syncer's managed-by label are never changed: such a clash is reported instead.
//
// What depends on the cluster is decided here, from what it holds: the derived Service's
// name (sticky, recorded on the ServiceImport), its IP families (the families of the
// cluster's ServiceCIDRs), which member endpoints may be mirrored (not in those CIDRs) and
// which keep nodeName and targetRef (only the cluster's own).
//
// A failed write affects only its object: every other slice and deletion still goes
// through, and the errors are returned together. A namespace being deleted is treated like
// a missing one.
package target

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
	mcsclientv1alpha1 "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned/typed/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/recentwrites"
)

// Kinds, as counted in the writes metric.
const (
	kindService       = "Service"
	kindServiceImport = "ServiceImport"
	kindEndpointSlice = "EndpointSlice"
)

// Skip reasons, as counted in the imports-skipped metric.
const (
	ReasonNamespaceMissing     = "NamespaceMissing"
	ReasonNamespaceTerminating = "NamespaceTerminating"
	ReasonClash                = "Clash"
)

// byDerivedName indexes ServiceImports by "namespace/<derived-service annotation>".
const byDerivedName = "byDerivedName"

// ownWritesTTL bounds how long an own write is trusted over a lagging informer.
const ownWritesTTL = time.Minute

var (
	managedService = desired.ManagedByLabel + "=" + desired.ManagerName
	mirroredSlice  = discoveryv1.LabelManagedBy + "=" + desired.ManagerName
)

// Desired is what one exported service is, the same for every target cluster; each target
// derives its own objects from it. A nil Service means no valid export remains: everything
// the syncer wrote for it goes.
type Desired struct {
	Service *desired.Service
	// Exports are every member's view of the service, the source of the mirrored endpoints.
	Exports []desired.ClusterExport
	// MaxEndpointsPerSlice caps mirrored slices (desired.SliceOptions.MaxEndpoints).
	MaxEndpointsPerSlice int
}

// Outcome is how far Sync got in one target.
type Outcome struct {
	// Published: the derived Service, the ServiceImport and every slice are as desired.
	Published bool
	// NamespaceMissing: the namespace does not exist in the target, or is being deleted;
	// nothing was written.
	NamespaceMissing bool
	// Clashes describes objects in the way that the syncer does not manage.
	Clashes []string
}

// Cluster is one target cluster.
type Cluster struct {
	ID       string
	kube     kubernetes.Interface
	mcs      mcsclient.Interface
	metrics  *metrics.Metrics
	recorder record.EventRecorder
	events   record.EventBroadcaster

	svcs, imports, slices, namespaces cache.SharedIndexInformer
	cidrs                             *serviceCIDRs

	svcStore    *recentwrites.Store[*corev1.Service]
	importStore *recentwrites.Store[*mcsv1alpha1.ServiceImport]
	sliceStore  *recentwrites.Store[*discoveryv1.EndpointSlice]

	// dropped holds, per exported service, the endpoints last left out, so that each is
	// counted and logged once rather than on every resync.
	droppedMu sync.Mutex
	dropped   map[string]map[desired.DroppedEndpoint]bool
}

// Queue receives the exported services to reconcile when a target changes.
type Queue interface {
	// Enqueue schedules the service ("namespace/name") an object of the syncer belongs to.
	Enqueue(key string)
	// EnqueueNamespace schedules the services of a namespace that appeared: imports skipped
	// for its absence can now be written.
	EnqueueNamespace(namespace string)
	// EnqueueAll schedules every service: the cluster's Service CIDRs changed, which
	// changes which endpoints may be mirrored and the derived Services' families.
	EnqueueAll()
}

// New builds the informers of one target, which feed q.
func New(id string, kube kubernetes.Interface, mcs mcsclient.Interface, m *metrics.Metrics, q Queue) *Cluster {
	c := &Cluster{
		ID:      id,
		kube:    kube,
		mcs:     mcs,
		metrics: m,
		svcs:    informers.Services(kube, informers.Config{Selector: managedService, Indexers: withNamespaceIndex(serviceIndex)}),
		// All ServiceImports, not only ours: an import someone else owns is a clash to report.
		imports: informers.ServiceImports(mcs, informers.Config{
			Indexers: withNamespaceIndex(cache.Indexers{byDerivedName: derivedNameIndex})}),
		slices:     informers.EndpointSlices(kube, informers.Config{Selector: mirroredSlice, Indexers: withNamespaceIndex(serviceIndex)}),
		namespaces: informers.Namespaces(kube, informers.Config{}),
		cidrs:      newServiceCIDRs(kube, q.EnqueueAll),
		dropped:    map[string]map[desired.DroppedEndpoint]bool{},
	}
	c.svcStore = recentwrites.New[*corev1.Service](c.svcs.GetIndexer(), ownWritesTTL)
	c.importStore = recentwrites.New[*mcsv1alpha1.ServiceImport](c.imports.GetIndexer(), ownWritesTTL)
	c.sliceStore = recentwrites.New[*discoveryv1.EndpointSlice](c.slices.GetIndexer(), ownWritesTTL)

	byLabel := func(obj any, _ bool) {
		keys, _ := serviceIndex[informers.ByService](obj)
		for _, k := range keys {
			q.Enqueue(k)
		}
	}
	byName := func(obj any, _ bool) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			q.Enqueue(key)
		}
	}
	observe(c.svcs, c.svcStore.Observe, byLabel)
	observe(c.imports, c.importStore.Observe, byName)
	observe(c.slices, c.sliceStore.Observe, byLabel)
	_, _ = c.namespaces.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			q.EnqueueNamespace(ns.Name)
		}
	}})

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = mcsv1alpha1.Install(scheme)
	c.events = record.NewBroadcaster()
	c.recorder = c.events.NewRecorder(scheme, corev1.EventSource{Component: desired.ManagerName})
	return c
}

// serviceIndex indexes the syncer's objects by the exported service they belong to.
var serviceIndex = informers.ServiceIndex(mcsv1alpha1.LabelServiceName)

// withNamespaceIndex adds the namespace index to indexers (a fresh map: informers take
// ownership of theirs).
func withNamespaceIndex(indexers cache.Indexers) cache.Indexers {
	out := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	maps.Copy(out, indexers)
	return out
}

// observe feeds an informer's events to its overlay and enqueues the service of every change
// that is not the echo of the syncer's own write.
func observe(inf cache.SharedIndexInformer, seen func(obj any, deleted bool) (own bool), enqueue func(obj any, deleted bool)) {
	on := func(obj any, deleted bool) {
		if !seen(obj, deleted) {
			enqueue(obj, deleted)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { on(obj, false) },
		UpdateFunc: func(_, obj any) { on(obj, false) },
		DeleteFunc: func(obj any) { on(obj, true) },
	})
}

// Run runs the informers and the event sink until ctx ends.
func (c *Cluster) Run(ctx context.Context) {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
	go func() { <-ctx.Done(); c.events.Shutdown() }()
	for _, inf := range []cache.SharedIndexInformer{c.svcs, c.imports, c.slices, c.namespaces} {
		go inf.RunWithContext(ctx)
	}
	go c.cidrs.run(ctx, c.ID)
}

// HasSynced reports whether every informer has listed once.
func (c *Cluster) HasSynced() bool {
	return c.svcs.HasSynced() && c.imports.HasSynced() && c.slices.HasSynced() && c.namespaces.HasSynced() &&
		c.cidrs.hasSynced()
}

// ManagedKeys lists the exported-service keys of every object the syncer wrote in this
// target, so that leftovers of exports that vanished while the syncer was down are found.
func (c *Cluster) ManagedKeys() []string {
	return c.managedKeys(cache.Indexer.List)
}

// ManagedKeysIn is ManagedKeys for the objects of one namespace, found by index.
func (c *Cluster) ManagedKeysIn(namespace string) []string {
	return c.managedKeys(func(i cache.Indexer) []any {
		objs, _ := i.ByIndex(cache.NamespaceIndex, namespace)
		return objs
	})
}

// managedKeys lists the exported-service keys of the syncer's objects that list returns
// from each cache (duplicates included).
func (c *Cluster) managedKeys(list func(cache.Indexer) []any) []string {
	var keys []string
	byService := serviceIndex[informers.ByService]
	for _, inf := range []cache.SharedIndexInformer{c.svcs, c.slices} {
		for _, obj := range list(inf.GetIndexer()) {
			k, _ := byService(obj)
			keys = append(keys, k...)
		}
	}
	for _, obj := range list(c.imports.GetIndexer()) {
		if si := obj.(*mcsv1alpha1.ServiceImport); desired.IsManaged(si) {
			keys = append(keys, si.Namespace+"/"+si.Name)
		}
	}
	return keys
}

// Sync makes the target hold exactly what want means in this cluster for the exported
// service namespace/name.
func (c *Cluster) Sync(ctx context.Context, namespace, name string, want Desired) (Outcome, error) {
	if want.Service == nil {
		c.forgetDropped(namespace + "/" + name)
		return Outcome{}, c.remove(ctx, namespace, name)
	}
	if reason := c.namespaceUnusable(namespace); reason != "" {
		return c.skipNamespace(ctx, namespace, name, reason), nil
	}
	var out Outcome
	err := c.publish(ctx, namespace, name, want, &out)
	if isNamespaceTerminating(err) {
		// Seen by the apiserver before our informer: the same as a Terminating namespace.
		return c.skipNamespace(ctx, namespace, name, ReasonNamespaceTerminating), nil
	}
	out.Published = err == nil && len(out.Clashes) == 0
	if len(out.Clashes) > 0 {
		c.metrics.Skipped.WithLabelValues(c.ID, ReasonClash).Inc()
	}
	return out, err
}

// namespaceUnusable returns why nothing can be written into namespace, or "".
func (c *Cluster) namespaceUnusable(namespace string) string {
	obj, ok, _ := c.namespaces.GetIndexer().GetByKey(namespace)
	switch {
	case !ok:
		return ReasonNamespaceMissing
	case obj.(*corev1.Namespace).DeletionTimestamp != nil:
		return ReasonNamespaceTerminating
	}
	return ""
}

func (c *Cluster) skipNamespace(ctx context.Context, namespace, name, reason string) Outcome {
	klog.FromContext(ctx).V(2).Info("Namespace missing or being deleted in target cluster, import skipped",
		"cluster", c.ID, "namespace", namespace, "service", name, "reason", reason)
	c.metrics.Skipped.WithLabelValues(c.ID, reason).Inc()
	return Outcome{NamespaceMissing: true}
}

// isNamespaceTerminating recognises the apiserver's refusal to create an object in a
// namespace that is being deleted (one of the errors errors.Join may hold).
func isNamespaceTerminating(err error) bool {
	if err == nil {
		return false
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			if isNamespaceTerminating(e) {
				return true
			}
		}
		return false
	}
	return apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// publish writes the derived Service, then the ServiceImport carrying its cluster IPs and the
// slices, then the ServiceImport's status, which tells how the slices fared. A clash with an
// object the syncer does not own stops it; a failed slice write or deletion does not stop
// the others.
func (c *Cluster) publish(ctx context.Context, namespace, name string, want Desired, out *Outcome) error {
	// A ServiceImport someone else owns stops everything: our derived Service and slices
	// would otherwise be read as the endpoints of their import.
	if si, ok := c.importStore.Get(namespace + "/" + name); ok && !desired.IsManaged(si) {
		c.clash(ctx, si, "ServiceImport", notManaged, out)
		return nil
	}
	families := c.cidrs.families()
	derived, err := c.ensureDerivedService(ctx, want.Service, families, out)
	if err != nil || derived == nil {
		return err
	}
	mirrored, dropped := desired.EndpointSlices(want.Service, want.Exports, desired.SliceOptions{
		DerivedName:  derived.Name,
		LocalCluster: c.ID,
		Addresses:    desired.AddressFilter{ServiceCIDRs: c.cidrs.prefixes()},
		MaxEndpoints: want.MaxEndpointsPerSlice,
		Existing:     c.sliceStore.ByIndex(informers.ByService, namespace+"/"+name),
	})
	c.countDropped(ctx, namespace+"/"+name, dropped)

	// The import needs the derived Service's cluster IPs; the slices need nothing but the
	// derived name, so they are written meanwhile.
	wantImport := desired.ServiceImport(want.Service, derived)
	var live *mcsv1alpha1.ServiceImport
	var importErr error
	var wg sync.WaitGroup
	wg.Go(func() { live, importErr = c.ensureServiceImport(ctx, wantImport) })
	slicesErr := c.ensureSlices(ctx, namespace, name, mirrored, out)
	wg.Wait()
	if importErr != nil {
		return errors.Join(importErr, slicesErr)
	}
	notWritten := slicesErr
	if len(out.Clashes) > 0 { // slices in the way, left alone
		notWritten = errors.Join(notWritten, errors.New(strings.Join(out.Clashes, "; ")))
	}
	objects, ready := desired.ImportStatus(want.Service, derived, families, len(mirrored), notWritten)
	ready.ObservedGeneration = live.Generation
	wantImport.Status.EndpointSliceObjects, wantImport.Status.Conditions = objects, []metav1.Condition{ready}
	return errors.Join(slicesErr, c.ensureImportStatus(ctx, live, wantImport))
}

// ensureDerivedService chooses the derived Service's name in this cluster and returns the
// live Service once it is as desired, or nil after reporting a clash. A name found held by
// an object the syncer does not manage (which its cache does not show) is taken as held,
// and the choice is made again.
func (c *Cluster) ensureDerivedService(ctx context.Context, s *desired.Service, families []corev1.IPFamily, out *Outcome) (*corev1.Service, error) {
	held := map[string]string{} // name -> why it is held, found by trying
	for range desired.DerivedServiceNames(s.Name) {
		name := desired.ChooseDerivedName(s.Name, c.nameView(s.Namespace, s.Name, held))
		if name == "" {
			break
		}
		live, inTheWay, err := c.ensureService(ctx, desired.DerivedService(s, name, families))
		if err != nil || inTheWay == nil {
			if err == nil {
				err = c.deleteOtherDerived(ctx, s.Namespace, s.Name, name)
			}
			return live, err
		}
		held[name] = inTheWay.reason
	}
	// Both names are held: report the first holder (the seed name's).
	for _, n := range desired.DerivedServiceNames(s.Name) {
		if reason, ok := held[n]; ok {
			msg := fmt.Sprintf("Service %s/%s in cluster %s is in the way: %s", s.Namespace, n, c.ID, reason)
			c.reportClash(ctx, nil, "Service", s.Namespace, n, reason, msg, out)
			return nil, nil
		}
	}
	msg := fmt.Sprintf("both derived Service names of %s/%s are held in cluster %s by other services", s.Namespace, s.Name, c.ID)
	c.reportClash(ctx, nil, "Service", s.Namespace, desired.DerivedServiceName(s.Name), "both derived names held", msg, out)
	return nil, nil
}

// nameView is what this cluster holds that bears on the derived name of namespace/service.
func (c *Cluster) nameView(namespace, service string, held map[string]string) desired.DerivedNameView {
	v := desired.DerivedNameView{}
	if si, ok := c.importStore.Get(namespace + "/" + service); ok && desired.IsManaged(si) {
		v.Recorded = si.Annotations[desired.DerivedServiceAnnotation]
	}
	for _, svc := range c.svcStore.ByIndex(informers.ByService, namespace+"/"+service) {
		v.Own = append(v.Own, svc.Name)
	}
	v.TakenByOther = func(name string) bool {
		if _, ok := held[name]; ok {
			return true
		}
		if svc, ok := c.svcStore.Get(namespace + "/" + name); ok && svc.Labels[mcsv1alpha1.LabelServiceName] != service {
			return true
		}
		for _, si := range c.importStore.ByIndex(byDerivedName, namespace+"/"+name) {
			// The overlay may hold a newer copy whose annotation moved on: check it again.
			if si.Name != service && desired.IsManaged(si) && si.Annotations[desired.DerivedServiceAnnotation] == name {
				return true
			}
		}
		return false
	}
	return v
}

// derivedNameIndex indexes managed ServiceImports by the derived name they record.
func derivedNameIndex(obj any) ([]string, error) {
	si, ok := obj.(*mcsv1alpha1.ServiceImport)
	if !ok || !desired.IsManaged(si) {
		return nil, nil
	}
	if name := si.Annotations[desired.DerivedServiceAnnotation]; name != "" {
		return []string{si.Namespace + "/" + name}, nil
	}
	return nil, nil
}

// deleteOtherDerived deletes the service's derived Services other than the one named keep
// (left over from a name given up, say after the recorded name was taken while the import
// was missing).
func (c *Cluster) deleteOtherDerived(ctx context.Context, namespace, service, keep string) error {
	client := c.kube.CoreV1().Services(namespace)
	var errs []error
	for _, svc := range c.svcStore.ByIndex(informers.ByService, namespace+"/"+service) {
		if svc.Name != keep {
			errs = append(errs, deleteObject(ctx, c, kindService, client.Delete, svc, c.svcStore.Deleted))
		}
	}
	return errors.Join(errs...)
}

// obstacle is an object found under a name the syncer wants, which it leaves alone.
type obstacle struct{ reason string }

// ensureService makes the derived Service named want.Name as desired and returns it live;
// when the name is held by an object that is not this service's, it returns that obstacle
// instead and writes nothing.
func (c *Cluster) ensureService(ctx context.Context, want *corev1.Service) (*corev1.Service, *obstacle, error) {
	client := c.kube.CoreV1().Services(want.Namespace)
	create := func() (*corev1.Service, error) {
		created, err := client.Create(ctx, want, metav1.CreateOptions{})
		c.count(kindService, "create", err)
		if err != nil {
			return nil, err
		}
		c.svcStore.Wrote(created)
		return created, nil
	}
	live, ok := c.svcStore.Get(want.Namespace + "/" + want.Name)
	if !ok {
		created, err := create()
		if !apierrors.IsAlreadyExists(err) {
			return created, nil, err
		}
		// Not in our cache of managed Services, so most likely not ours: look first.
		if live, err = client.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			return nil, nil, err
		}
	}
	if reason := inTheWay(live, want.Labels[mcsv1alpha1.LabelServiceName]); reason != "" {
		return nil, &obstacle{reason}, nil
	}
	if desired.NeedsRecreate(want, live) {
		// Headless and ClusterIP Services cannot be converted into each other, nor change
		// their primary family.
		if err := deleteObject(ctx, c, kindService, client.Delete, live, c.svcStore.Deleted); err != nil {
			return nil, nil, err
		}
		created, err := create()
		return created, nil, err
	}
	if desired.DerivedServiceEqual(want, live) {
		return live, nil, nil
	}
	update := live.DeepCopy()
	update.Labels = withLabels(update.Labels, want.Labels)
	s, w := &update.Spec, &want.Spec
	s.Type, s.Selector, s.Ports = w.Type, nil, w.Ports
	s.ExternalIPs, s.LoadBalancerIP, s.LoadBalancerSourceRanges, s.ExternalName = nil, "", nil, ""
	s.SessionAffinity, s.SessionAffinityConfig = w.SessionAffinity, w.SessionAffinityConfig
	s.InternalTrafficPolicy, s.TrafficDistribution = w.InternalTrafficPolicy, w.TrafficDistribution
	if w.IPFamilyPolicy != nil {
		s.IPFamilyPolicy = w.IPFamilyPolicy
	}
	if w.IPFamilies != nil {
		s.IPFamilies = w.IPFamilies
	}
	updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
	c.count(kindService, "update", err)
	if err != nil {
		return nil, nil, err
	}
	c.svcStore.Wrote(updated)
	return updated, nil, nil
}

// ensureServiceImport writes the import's labels, annotations and spec, and returns it live.
func (c *Cluster) ensureServiceImport(ctx context.Context, want *mcsv1alpha1.ServiceImport) (*mcsv1alpha1.ServiceImport, error) {
	client := c.mcs.MulticlusterV1alpha1().ServiceImports(want.Namespace)
	live, ok := c.importStore.Get(want.Namespace + "/" + want.Name)
	switch {
	case !ok:
		created, err := client.Create(ctx, want, metav1.CreateOptions{})
		c.count(kindServiceImport, "create", err)
		if err != nil {
			return nil, err
		}
		c.importStore.Wrote(created)
		return created, nil
	case !desired.ServiceImportEqual(want, live):
		update := live.DeepCopy()
		update.Labels, update.Annotations, update.Spec = want.Labels, want.Annotations, want.Spec
		updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
		c.count(kindServiceImport, "update", err)
		if err != nil {
			return nil, err
		}
		c.importStore.Wrote(updated)
		return updated, nil
	}
	return live, nil
}

// ensureImportStatus writes want's status.clusters, endpointSliceObjects and conditions
// onto live (a subresource: create and update ignore it). Conditions keep their transition
// time while their status holds.
func (c *Cluster) ensureImportStatus(ctx context.Context, live, want *mcsv1alpha1.ServiceImport) error {
	if desired.ServiceImportStatusEqual(want, live) {
		return nil
	}
	update := live.DeepCopy()
	update.Status.Clusters = want.Status.Clusters
	update.Status.EndpointSliceObjects = want.Status.EndpointSliceObjects
	update.Status.Conditions, _ = desired.SetConditions(live.Status.Conditions, want.Status.Conditions, metav1.Now())
	updated, err := client(c, live.Namespace).UpdateStatus(ctx, update, metav1.UpdateOptions{})
	c.count(kindServiceImport, "updateStatus", err)
	if err != nil {
		return err
	}
	c.importStore.Wrote(updated)
	return nil
}

// ensureSlices writes every wanted slice and deletes the service's other mirrored slices.
// Each write stands alone: one refused (a quota, an admission policy) does not keep the
// others from being written or deleted; the errors are returned together.
func (c *Cluster) ensureSlices(ctx context.Context, namespace, name string, want []*discoveryv1.EndpointSlice, out *Outcome) error {
	client := c.kube.DiscoveryV1().EndpointSlices(namespace)
	wanted := make(map[string]bool, len(want))
	var errs []error
	for _, w := range want {
		wanted[w.Name] = true
		if err := c.ensureSlice(ctx, w, out); err != nil {
			errs = append(errs, fmt.Errorf("EndpointSlice %s: %w", w.Name, err))
		}
	}
	for _, live := range c.sliceStore.ByIndex(informers.ByService, namespace+"/"+name) {
		if wanted[live.Name] {
			continue
		}
		if err := deleteObject(ctx, c, kindEndpointSlice, client.Delete, live, c.sliceStore.Deleted); err != nil {
			errs = append(errs, fmt.Errorf("deleting EndpointSlice %s: %w", live.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) ensureSlice(ctx context.Context, want *discoveryv1.EndpointSlice, out *Outcome) error {
	client := c.kube.DiscoveryV1().EndpointSlices(want.Namespace)
	create := func() error {
		created, err := client.Create(ctx, want, metav1.CreateOptions{})
		c.count(kindEndpointSlice, "create", err)
		if err == nil {
			c.sliceStore.Wrote(created)
		}
		return err
	}
	live, ok := c.sliceStore.Get(want.Namespace + "/" + want.Name)
	if !ok {
		err := create()
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		if live, err = client.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			return err
		}
	}
	if reason := inTheWay(live, want.Labels[mcsv1alpha1.LabelServiceName]); reason != "" {
		c.clash(ctx, live, "EndpointSlice", reason, out)
		return nil
	}
	if live.AddressType != want.AddressType {
		// addressType is immutable.
		if err := deleteObject(ctx, c, kindEndpointSlice, client.Delete, live, c.sliceStore.Deleted); err != nil {
			return err
		}
		return create()
	}
	if desired.EndpointSliceEqual(want, live) {
		return nil
	}
	update := live.DeepCopy()
	update.Labels = withLabels(update.Labels, want.Labels)
	update.Endpoints, update.Ports = want.Endpoints, want.Ports
	updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
	c.count(kindEndpointSlice, "update", err)
	if err != nil {
		return err
	}
	c.sliceStore.Wrote(updated)
	return nil
}

// remove deletes everything the syncer wrote for namespace/name: slices first, so that
// traffic stops before the names go. Every deletion is tried; the errors are returned
// together.
func (c *Cluster) remove(ctx context.Context, namespace, name string) error {
	var errs []error
	sliceClient := c.kube.DiscoveryV1().EndpointSlices(namespace)
	for _, s := range c.sliceStore.ByIndex(informers.ByService, namespace+"/"+name) {
		errs = append(errs, deleteObject(ctx, c, kindEndpointSlice, sliceClient.Delete, s, c.sliceStore.Deleted))
	}
	if si, ok := c.importStore.Get(namespace + "/" + name); ok && desired.IsManaged(si) {
		errs = append(errs, deleteObject(ctx, c, kindServiceImport, client(c, namespace).Delete, si, c.importStore.Deleted))
	}
	// The service's own derived Services, whatever name they were given.
	errs = append(errs, c.deleteOtherDerived(ctx, namespace, name, ""))
	return errors.Join(errs...)
}

func client(c *Cluster, namespace string) mcsclientv1alpha1.ServiceImportInterface {
	return c.mcs.MulticlusterV1alpha1().ServiceImports(namespace)
}

// countDropped counts and logs the endpoints of key left out that were not left out last
// time, and remembers the set.
func (c *Cluster) countDropped(ctx context.Context, key string, dropped []desired.DroppedEndpoint) {
	now := make(map[desired.DroppedEndpoint]bool, len(dropped))
	c.droppedMu.Lock()
	before := c.dropped[key]
	for _, d := range dropped {
		now[d] = true
		if !before[d] {
			c.metrics.EndpointsDropped.WithLabelValues(d.Cluster, string(d.Reason)).Inc()
			klog.FromContext(ctx).Info("Member endpoint not mirrored", "cluster", c.ID, "service", key,
				"sourceCluster", d.Cluster, "address", d.Address, "reason", d.Reason)
		}
	}
	if len(now) == 0 {
		delete(c.dropped, key)
	} else {
		c.dropped[key] = now
	}
	c.droppedMu.Unlock()
}

func (c *Cluster) forgetDropped(key string) {
	c.droppedMu.Lock()
	delete(c.dropped, key)
	c.droppedMu.Unlock()
}

// deleteObject removes obj, precondition on its UID so that an object recreated meanwhile by
// someone else is left alone. Already gone counts as done.
func deleteObject[T recentwrites.Object](ctx context.Context, c *Cluster, kind string,
	del func(context.Context, string, metav1.DeleteOptions) error, obj T, deleted func(T)) error {
	uid := obj.GetUID()
	err := del(ctx, obj.GetName(), metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	c.count(kind, "delete", err)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	deleted(obj)
	return nil
}

// notManaged is why the syncer leaves an object without its managed-by label alone.
const notManaged = "it is not managed by " + desired.ManagerName

// inTheWay tells why obj, found under the name the syncer wants for service's derived
// object, must be left alone, or "" when it is the syncer's object for service.
func inTheWay(obj metav1.Object, service string) string {
	if !desired.IsManaged(obj) {
		return notManaged
	}
	if other := obj.GetLabels()[mcsv1alpha1.LabelServiceName]; other != service {
		return fmt.Sprintf("it belongs to the import of %q", other)
	}
	return ""
}

// clash reports an object in the way, as an Event on it, a log line and in out.
func (c *Cluster) clash(ctx context.Context, obj runtime.Object, kind, reason string, out *Outcome) {
	m := obj.(metav1.Object)
	msg := fmt.Sprintf("%s %s/%s in cluster %s is in the way: %s", kind, m.GetNamespace(), m.GetName(), c.ID, reason)
	c.reportClash(ctx, obj, kind, m.GetNamespace(), m.GetName(), reason, msg, out)
}

// reportClash logs a clash, records it in out and, when obj is known, sets an Event on it.
func (c *Cluster) reportClash(ctx context.Context, obj runtime.Object, kind, namespace, name, reason, msg string, out *Outcome) {
	klog.FromContext(ctx).Info("Object in the way, left alone", "cluster", c.ID, "kind", kind,
		"namespace", namespace, "name", name, "reason", reason)
	if obj != nil {
		c.recorder.Event(obj, corev1.EventTypeWarning, "ImportClash", desired.ManagerName+" leaves this object alone: "+reason)
	}
	out.Clashes = append(out.Clashes, msg)
}

func (c *Cluster) count(kind, verb string, err error) {
	result := metrics.ResultSuccess
	switch {
	case err == nil:
	case apierrors.IsConflict(err):
		result = metrics.ResultConflict
	case apierrors.IsNotFound(err) && verb == "delete":
		result = metrics.ResultNotFound
	default:
		result = metrics.ResultError
	}
	c.metrics.CountWrite(c.ID, kind, verb, result)
}

// withLabels returns have with every label of want set.
func withLabels(have, want map[string]string) map[string]string {
	if have == nil {
		have = make(map[string]string, len(want))
	}
	for k, v := range want {
		have[k] = v
	}
	return have
}
