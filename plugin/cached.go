package clusterset

import (
	"net/netip"
	"slices"

	"github.com/coredns/coredns/plugin/kubernetes/object"

	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

// The informers convert every object into one of the compact types below before caching it, so
// the caches hold no managedFields, annotations, status, not-ready endpoints or unused fields,
// and addresses are parsed once. As in CoreDNS's kubernetes plugin (package object), the types
// implement just enough of metav1.Object for the informer's store.

// cachedMeta is the identity of a cached object.
type cachedMeta struct {
	namespace, name, resourceVersion string
	*object.Empty
}

func (m *cachedMeta) GetNamespace() string       { return m.namespace }
func (m *cachedMeta) SetNamespace(string)        {}
func (m *cachedMeta) GetName() string            { return m.name }
func (m *cachedMeta) SetName(string)             {}
func (m *cachedMeta) GetResourceVersion() string { return m.resourceVersion }
func (m *cachedMeta) SetResourceVersion(string)  {}

// cachedImport is a ServiceImport.
type cachedImport struct {
	cachedMeta
	headless bool
	ips      []netip.Addr // valid addresses of spec.ips, in order, each once
	ports    []port       // ports SRV records can carry (see parsePort)
}

// cachedSlice is an EndpointSlice labelled multicluster.kubernetes.io/service-name.
type cachedSlice struct {
	cachedMeta
	service   string // the multicluster.kubernetes.io/service-name label
	cluster   string // the multicluster.kubernetes.io/source-cluster label, "" unless a DNS label
	ports     []port // ports SRV records can carry (see parsePort)
	endpoints []cachedEndpoint
}

// cachedEndpoint is one ready address of a slice (an unset ready condition counts as ready).
type cachedEndpoint struct {
	addr     netip.Addr
	hostname string // "" unless the endpoint's hostname is a DNS label
}

var (
	_ metav1.Object  = &cachedImport{}
	_ runtime.Object = &cachedImport{}
	_ metav1.Object  = &cachedSlice{}
	_ runtime.Object = &cachedSlice{}
)

func (i *cachedImport) DeepCopyObject() runtime.Object {
	c := *i
	c.ips, c.ports = slices.Clone(i.ips), slices.Clone(i.ports)
	return &c
}

func (s *cachedSlice) DeepCopyObject() runtime.Object {
	c := *s
	c.ports, c.endpoints = slices.Clone(s.ports), slices.Clone(s.endpoints)
	return &c
}

// toCachedImport is the informer transform of ServiceImports.
func toCachedImport(obj any) (any, error) {
	si, ok := obj.(*mcs.ServiceImport)
	if !ok {
		return obj, nil // e.g. cache.DeletedFinalStateUnknown, which wraps a converted object
	}
	c := &cachedImport{
		cachedMeta: cachedMeta{namespace: si.Namespace, name: si.Name, resourceVersion: si.ResourceVersion},
		headless:   si.Spec.Type == mcs.Headless,
	}
	for _, ip := range si.Spec.IPs {
		if a, ok := parseAddr(ip); ok && !slices.Contains(c.ips, a) { // one RR per address
			c.ips = append(c.ips, a)
		}
	}
	for _, p := range si.Spec.Ports {
		if np, ok := parsePort(p.Name, string(p.Protocol), p.Port); ok {
			c.ports = append(c.ports, np)
		}
	}
	return c, nil
}

// toCachedSlice is the informer transform of EndpointSlices.
func toCachedSlice(obj any) (any, error) {
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	c := &cachedSlice{
		cachedMeta: cachedMeta{namespace: es.Namespace, name: es.Name, resourceVersion: es.ResourceVersion},
		service:    es.Labels[mcs.LabelServiceName],
	}
	if cl := es.Labels[mcs.LabelSourceCluster]; isLabel(cl) {
		c.cluster = cl
	}
	if es.AddressType != discovery.AddressTypeIPv4 && es.AddressType != discovery.AddressTypeIPv6 {
		return c, nil // FQDN slices have no addresses DNS could answer with
	}
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		name, proto := "", ""
		if p.Name != nil {
			name = *p.Name
		}
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		if np, ok := parsePort(name, proto, *p.Port); ok {
			c.ports = append(c.ports, np)
		}
	}
	n := 0
	for _, ep := range es.Endpoints {
		n += len(ep.Addresses)
	}
	c.endpoints = make([]cachedEndpoint, 0, n) // exact size: the cache keeps it for long
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		host := ""
		if ep.Hostname != nil && isLabel(*ep.Hostname) {
			host = *ep.Hostname
		}
		for _, s := range ep.Addresses {
			if a, ok := parseAddr(s); ok {
				c.endpoints = append(c.endpoints, cachedEndpoint{addr: a, hostname: host})
			}
		}
	}
	c.endpoints, c.ports = slices.Clip(c.endpoints), slices.Clip(c.ports)
	return c, nil
}
