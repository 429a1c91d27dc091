// Package target writes one exported service's derived objects into one target cluster: the
// derived Service, the ServiceImport (spec and status) and the mirrored EndpointSlices. It
// reads what is there from informers over the syncer's own objects, overlaid with its recent
// writes, and writes only what differs, so that a resync makes no write. Objects without the
// syncer's managed-by label are never changed: such a clash is reported instead.
package target

import (
	"context"
	"errors"
	"fmt"
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
	ReasonNamespaceMissing = "NamespaceMissing"
	ReasonClash            = "Clash"
)

// ownWritesTTL bounds how long an own write is trusted over a lagging informer.
const ownWritesTTL = time.Minute

var (
	managedService = desired.ManagedByLabel + "=" + desired.ManagerName
	mirroredSlice  = discoveryv1.LabelManagedBy + "=" + desired.ManagerName
)

// Desired is what one exported service looks like in every target cluster. A nil Service
// means no valid export remains: everything the syncer wrote for it goes.
type Desired struct {
	Service *desired.Service
	Derived *corev1.Service
	Slices  []*discoveryv1.EndpointSlice
}

// Outcome is how far Sync got in one target.
type Outcome struct {
	// Published: the derived Service, the ServiceImport and every slice are as desired.
	Published bool
	// NamespaceMissing: the namespace does not exist in the target; nothing was written.
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

	svcStore    *recentwrites.Store[*corev1.Service]
	importStore *recentwrites.Store[*mcsv1alpha1.ServiceImport]
	sliceStore  *recentwrites.Store[*discoveryv1.EndpointSlice]
}

// Queue receives the exported services to reconcile when a target changes.
type Queue interface {
	// Enqueue schedules the service ("namespace/name") an object of the syncer belongs to.
	Enqueue(key string)
	// EnqueueNamespace schedules the services of a namespace that appeared: imports skipped
	// for its absence can now be written.
	EnqueueNamespace(namespace string)
	// EnqueueDerivedName schedules the services whose derived Service has this name: when
	// one is deleted, another service whose name collided with it can take the name.
	EnqueueDerivedName(namespace, derivedName string)
}

// New builds the informers of one target, which feed q.
func New(id string, kube kubernetes.Interface, mcs mcsclient.Interface, m *metrics.Metrics, q Queue) *Cluster {
	c := &Cluster{
		ID:      id,
		kube:    kube,
		mcs:     mcs,
		metrics: m,
		svcs: informers.Services(kube, informers.Config{Selector: managedService,
			Indexers: informers.ServiceIndex(mcsv1alpha1.LabelServiceName)}),
		// All ServiceImports, not only ours: an import someone else owns is a clash to report.
		imports: informers.ServiceImports(mcs, informers.Config{}),
		slices: informers.EndpointSlices(kube, informers.Config{Selector: mirroredSlice,
			Indexers: informers.ServiceIndex(mcsv1alpha1.LabelServiceName)}),
		namespaces: informers.Namespaces(kube, informers.Config{}),
	}
	c.svcStore = recentwrites.New[*corev1.Service](c.svcs.GetIndexer(), ownWritesTTL)
	c.importStore = recentwrites.New[*mcsv1alpha1.ServiceImport](c.imports.GetIndexer(), ownWritesTTL)
	c.sliceStore = recentwrites.New[*discoveryv1.EndpointSlice](c.slices.GetIndexer(), ownWritesTTL)

	byLabel := func(obj any, _ bool) {
		keys, _ := informers.ServiceIndex(mcsv1alpha1.LabelServiceName)[informers.ByService](obj)
		for _, k := range keys {
			q.Enqueue(k)
		}
	}
	byName := func(obj any, _ bool) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			q.Enqueue(key)
		}
	}
	derived := func(obj any, deleted bool) {
		byLabel(obj, deleted)
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil && deleted {
			ns, name, _ := cache.SplitMetaNamespaceKey(key)
			q.EnqueueDerivedName(ns, name)
		}
	}
	observe(c.svcs, c.svcStore.Observe, derived)
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
}

// HasSynced reports whether every informer has listed once.
func (c *Cluster) HasSynced() bool {
	return c.svcs.HasSynced() && c.imports.HasSynced() && c.slices.HasSynced() && c.namespaces.HasSynced()
}

// ManagedKeys lists the exported-service keys of every object the syncer wrote in this
// target, so that leftovers of exports that vanished while the syncer was down are found.
func (c *Cluster) ManagedKeys() []string {
	var keys []string
	for _, inf := range []cache.SharedIndexInformer{c.svcs, c.slices} {
		keys = append(keys, inf.GetIndexer().ListIndexFuncValues(informers.ByService)...)
	}
	for _, obj := range c.imports.GetIndexer().List() {
		if si := obj.(*mcsv1alpha1.ServiceImport); desired.IsManaged(si) {
			keys = append(keys, si.Namespace+"/"+si.Name)
		}
	}
	return keys
}

// Sync makes the target hold exactly want for the exported service namespace/name.
func (c *Cluster) Sync(ctx context.Context, namespace, name string, want Desired) (Outcome, error) {
	if want.Service == nil {
		return Outcome{}, c.remove(ctx, namespace, name)
	}
	if _, ok, _ := c.namespaces.GetIndexer().GetByKey(namespace); !ok {
		klog.FromContext(ctx).V(2).Info("Namespace missing in target cluster, import skipped",
			"cluster", c.ID, "namespace", namespace, "service", name)
		c.metrics.Skipped.WithLabelValues(c.ID, ReasonNamespaceMissing).Inc()
		return Outcome{NamespaceMissing: true}, nil
	}
	var out Outcome
	err := c.publish(ctx, namespace, name, want, &out)
	out.Published = err == nil && len(out.Clashes) == 0
	if len(out.Clashes) > 0 {
		c.metrics.Skipped.WithLabelValues(c.ID, ReasonClash).Inc()
	}
	return out, err
}

// publish writes the derived Service, then the ServiceImport carrying its cluster IPs, then
// the slices. It stops at the first clash.
func (c *Cluster) publish(ctx context.Context, namespace, name string, want Desired, out *Outcome) error {
	// A ServiceImport someone else owns stops everything: our derived Service and slices
	// would otherwise be read as the endpoints of their import.
	if si, ok := c.importStore.Get(namespace + "/" + name); ok && !desired.IsManaged(si) {
		c.clash(ctx, si, "ServiceImport", notManaged, out)
		return nil
	}
	derived, err := c.ensureDerivedService(ctx, want.Derived, out)
	if err != nil || derived == nil {
		return err
	}
	// The import needs the derived Service's cluster IPs; the slices need nothing but the
	// derived name, so they are written meanwhile.
	var importErr error
	var wg sync.WaitGroup
	wg.Go(func() { importErr = c.ensureServiceImport(ctx, desired.ServiceImport(want.Service, derived)) })
	slicesErr := c.ensureSlices(ctx, namespace, name, want.Slices, out)
	wg.Wait()
	return errors.Join(importErr, slicesErr)
}

// ensureDerivedService returns the live derived Service once it is as desired, or nil after
// reporting a clash.
func (c *Cluster) ensureDerivedService(ctx context.Context, want *corev1.Service, out *Outcome) (*corev1.Service, error) {
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
			return created, err
		}
		// Not in our cache of managed Services, so most likely not ours: look first.
		if live, err = client.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
	if reason := inTheWay(live, want.Labels[mcsv1alpha1.LabelServiceName]); reason != "" {
		c.clash(ctx, live, "Service", reason, out)
		return nil, nil
	}
	if desired.NeedsRecreate(want, live) {
		// Headless and ClusterIP Services cannot be converted into each other.
		if err := deleteObject(ctx, c, kindService, client.Delete, live, c.svcStore.Deleted); err != nil {
			return nil, err
		}
		return create()
	}
	if desired.DerivedServiceEqual(want, live) {
		return live, nil
	}
	update := live.DeepCopy()
	update.Labels = withLabels(update.Labels, want.Labels)
	s, w := &update.Spec, &want.Spec
	s.Type, s.Selector, s.Ports = w.Type, nil, w.Ports
	s.SessionAffinity, s.SessionAffinityConfig = w.SessionAffinity, w.SessionAffinityConfig
	s.InternalTrafficPolicy, s.TrafficDistribution = w.InternalTrafficPolicy, w.TrafficDistribution
	if w.IPFamilyPolicy != nil {
		s.IPFamilyPolicy = w.IPFamilyPolicy
	}
	updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
	c.count(kindService, "update", err)
	if err != nil {
		return nil, err
	}
	c.svcStore.Wrote(updated)
	return updated, nil
}

func (c *Cluster) ensureServiceImport(ctx context.Context, want *mcsv1alpha1.ServiceImport) error {
	client := c.mcs.MulticlusterV1alpha1().ServiceImports(want.Namespace)
	live, ok := c.importStore.Get(want.Namespace + "/" + want.Name)
	switch {
	case !ok:
		created, err := client.Create(ctx, want, metav1.CreateOptions{})
		c.count(kindServiceImport, "create", err)
		if err != nil {
			return err
		}
		c.importStore.Wrote(created)
		live = created
	case !desired.ServiceImportEqual(want, live):
		update := live.DeepCopy()
		update.Labels, update.Annotations, update.Spec = want.Labels, want.Annotations, want.Spec
		updated, err := client.Update(ctx, update, metav1.UpdateOptions{})
		c.count(kindServiceImport, "update", err)
		if err != nil {
			return err
		}
		c.importStore.Wrote(updated)
		live = updated
	}
	if desired.ServiceImportStatusEqual(want, live) {
		return nil
	}
	// status is a subresource: create and update ignore it.
	update := live.DeepCopy()
	update.Status.Clusters = want.Status.Clusters
	updated, err := client.UpdateStatus(ctx, update, metav1.UpdateOptions{})
	c.count(kindServiceImport, "updateStatus", err)
	if err != nil {
		return err
	}
	c.importStore.Wrote(updated)
	return nil
}

func (c *Cluster) ensureSlices(ctx context.Context, namespace, name string, want []*discoveryv1.EndpointSlice, out *Outcome) error {
	client := c.kube.DiscoveryV1().EndpointSlices(namespace)
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w.Name] = true
		if err := c.ensureSlice(ctx, w, out); err != nil {
			return err
		}
	}
	for _, live := range c.sliceStore.ByIndex(informers.ByService, namespace+"/"+name) {
		if wanted[live.Name] {
			continue
		}
		if err := deleteObject(ctx, c, kindEndpointSlice, client.Delete, live, c.sliceStore.Deleted); err != nil {
			return err
		}
	}
	return nil
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
// traffic stops before the names go.
func (c *Cluster) remove(ctx context.Context, namespace, name string) error {
	sliceClient := c.kube.DiscoveryV1().EndpointSlices(namespace)
	for _, s := range c.sliceStore.ByIndex(informers.ByService, namespace+"/"+name) {
		if err := deleteObject(ctx, c, kindEndpointSlice, sliceClient.Delete, s, c.sliceStore.Deleted); err != nil {
			return err
		}
	}
	if si, ok := c.importStore.Get(namespace + "/" + name); ok && desired.IsManaged(si) {
		client := c.mcs.MulticlusterV1alpha1().ServiceImports(namespace)
		if err := deleteObject(ctx, c, kindServiceImport, client.Delete, si, c.importStore.Deleted); err != nil {
			return err
		}
	}
	// The derived name may collide with another service's: delete only our own.
	if svc, ok := c.svcStore.Get(namespace + "/" + desired.DerivedServiceName(name)); ok && inTheWay(svc, name) == "" {
		client := c.kube.CoreV1().Services(namespace)
		if err := deleteObject(ctx, c, kindService, client.Delete, svc, c.svcStore.Deleted); err != nil {
			return err
		}
	}
	return nil
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
		return fmt.Sprintf("it belongs to the import of %q, whose derived name collides (Adler-32)", other)
	}
	return ""
}

// clash reports an object in the way, as an Event on it, a log line and in out.
func (c *Cluster) clash(ctx context.Context, obj runtime.Object, kind, reason string, out *Outcome) {
	m := obj.(metav1.Object)
	msg := fmt.Sprintf("%s %s/%s in cluster %s is in the way: %s", kind, m.GetNamespace(), m.GetName(), c.ID, reason)
	klog.FromContext(ctx).Info("Object in the way, left alone", "cluster", c.ID, "kind", kind,
		"namespace", m.GetNamespace(), "name", m.GetName(), "reason", reason)
	c.recorder.Event(obj, corev1.EventTypeWarning, "ImportClash", desired.ManagerName+" leaves this object alone: "+reason)
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
