package desired

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
)

const (
	// DefaultMaxEndpointsPerSlice applies when EndpointSlices is given no
	// positive limit; it is the EndpointSlice controller's default.
	DefaultMaxEndpointsPerSlice = 100
	// MaxEndpointsPerSlice is the apiserver's limit on endpoints per slice.
	MaxEndpointsPerSlice = 1000
)

// SliceOptions are what the mirrored slices depend on in one target cluster.
type SliceOptions struct {
	// DerivedName is the name of the service's derived Service in the target
	// (ChooseDerivedName); slice names and the kubernetes.io/service-name label
	// follow it.
	DerivedName string
	// LocalCluster is the target's cluster ID. Only its own endpoints keep
	// nodeName and targetRef: a remote endpoint is never node-local, or a
	// remote "worker-1" would match the local "worker-1" under
	// internalTrafficPolicy: Local.
	LocalCluster string
	// Addresses filters the member endpoints per endpoint.
	Addresses AddressFilter
	// MaxEndpoints per slice; DefaultMaxEndpointsPerSlice when not positive,
	// at most MaxEndpointsPerSlice.
	MaxEndpoints int
	// Existing are the target's live mirrored slices of the service: endpoints
	// stay in the slice they are in.
	Existing []*discoveryv1.EndpointSlice
}

// EndpointSlices returns the mirrored slices of every constituent,
// non-withdrawn cluster of s (the target cluster itself included), sorted by
// name, and the endpoints the address filter left out; the package
// documentation describes the names. Endpoints keep their addresses,
// conditions, hostname and zone, and on the target's own endpoints nodeName
// and targetRef (without its resourceVersion, which changes on every Pod
// update); duplicates of an address within a group are dropped. A source port
// whose Service port lost a port conflict (same name, different protocol or
// port than the merged one) is left out, so traffic reaches only clusters
// that expose the targeted port.
func EndpointSlices(s *Service, exports []ClusterExport, o SliceOptions) ([]*discoveryv1.EndpointSlice, []DroppedEndpoint) {
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = DefaultMaxEndpointsPerSlice
	}
	o.MaxEndpoints = min(o.MaxEndpoints, MaxEndpointsPerSlice)
	var out []*discoveryv1.EndpointSlice
	var dropped []DroppedEndpoint
	for _, e := range exports {
		if e.Withdrawn || e.Service == nil || !slices.Contains(s.Clusters, e.ClusterID) {
			continue
		}
		sl, d := clusterSlices(s, e, o)
		out, dropped = append(out, sl...), append(dropped, d...)
	}
	slices.SortFunc(out, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	return out, dropped
}

// endpointGroup is the endpoints of one cluster sharing an address type and a port set.
type endpointGroup struct {
	addressType discoveryv1.AddressType
	portKey     string
	ports       []discoveryv1.EndpointPort
	endpoints   []discoveryv1.Endpoint
}

// clusterSlices mirrors the source slices of one constituent cluster.
func clusterSlices(s *Service, e ClusterExport, o SliceOptions) ([]*discoveryv1.EndpointSlice, []DroppedEndpoint) {
	exposed := exposedPortNames(s, e.Service)
	local := e.ClusterID == o.LocalCluster
	var groups []*endpointGroup
	var dropped []DroppedEndpoint
	for _, src := range e.Slices {
		if IsManaged(src) || len(src.Endpoints) == 0 ||
			(src.AddressType != discoveryv1.AddressTypeIPv4 && src.AddressType != discoveryv1.AddressTypeIPv6) {
			continue
		}
		ports, ok := mirroredPorts(src.Ports, exposed)
		if !ok {
			continue
		}
		key := portKey(ports)
		i := slices.IndexFunc(groups, func(g *endpointGroup) bool { return g.addressType == src.AddressType && g.portKey == key })
		if i < 0 {
			groups = append(groups, &endpointGroup{addressType: src.AddressType, portKey: key, ports: ports})
			i = len(groups) - 1
		}
		for _, ep := range src.Endpoints {
			if r := o.Addresses.checkEndpoint(src.AddressType, ep); r != "" {
				dropped = append(dropped, DroppedEndpoint{Cluster: e.ClusterID, Address: firstAddress(ep), Reason: r})
				continue
			}
			groups[i].endpoints = append(groups[i].endpoints, mirroredEndpoint(ep, local))
		}
	}
	for _, g := range groups {
		slices.SortFunc(g.endpoints, compareEndpoints)
		g.endpoints = slices.CompactFunc(g.endpoints, func(a, b discoveryv1.Endpoint) bool {
			return slices.Equal(a.Addresses, b.Addresses)
		})
	}

	primaryFamily := discoveryv1.AddressTypeIPv4
	if fams := e.Service.Spec.IPFamilies; len(fams) > 0 && fams[0] == corev1.IPv6Protocol {
		primaryFamily = discoveryv1.AddressTypeIPv6
	}
	base := o.DerivedName + "-" + e.ClusterID
	var out []*discoveryv1.EndpointSlice
	for _, g := range groups {
		name := base
		if g.addressType != primaryFamily {
			name += "." + strings.ToLower(string(g.addressType))
		}
		if !isMainPortSet(g, groups) {
			h := fnv.New32a()
			h.Write([]byte(g.portKey))
			name += fmt.Sprintf(".p%08x", h.Sum32())
		}
		for _, c := range assignEndpoints(g.endpoints, liveChunks(o.Existing, e.ClusterID, name, g), o.MaxEndpoints) {
			sliceName := name
			if c.index > 1 {
				sliceName += "." + strconv.Itoa(c.index)
			}
			out = append(out, &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name:      sliceName,
					Namespace: s.Namespace,
					Labels: map[string]string{
						discoveryv1.LabelServiceName:   o.DerivedName,
						mcsv1alpha1.LabelServiceName:   s.Name,
						mcsv1alpha1.LabelSourceCluster: e.ClusterID,
						discoveryv1.LabelManagedBy:     ManagerName,
					},
				},
				AddressType: g.addressType,
				Endpoints:   c.endpoints,
				Ports:       clonePorts(g.ports),
			})
		}
	}
	return out, dropped
}

// chunk is one mirrored slice of a group: its number among the group's slice
// names (1 for the first) and its endpoints.
type chunk struct {
	index     int
	endpoints []discoveryv1.Endpoint
}

// liveChunks returns, by slice number, the endpoints of the target's live
// mirrored slices that belong to group g of cluster: named name or
// name.<n>, with g's address type and port set.
func liveChunks(existing []*discoveryv1.EndpointSlice, cluster, name string, g *endpointGroup) map[int][]discoveryv1.Endpoint {
	out := map[int][]discoveryv1.Endpoint{}
	for _, sl := range existing {
		if sl.Labels[mcsv1alpha1.LabelSourceCluster] != cluster || sl.AddressType != g.addressType ||
			portKey(sortedPorts(sl.Ports)) != g.portKey {
			continue
		}
		index := 1
		if sl.Name != name {
			rest, ok := strings.CutPrefix(sl.Name, name+".")
			n, err := strconv.Atoi(rest)
			if !ok || err != nil || n < 2 || strconv.Itoa(n) != rest {
				continue
			}
			index = n
		}
		out[index] = sl.Endpoints
	}
	return out
}

// assignEndpoints cuts a group's endpoints (sorted, unique addresses) into
// slices of at most max, keeping each endpoint in the live slice it is in, as
// the upstream EndpointSlice reconcilers do: a change to one endpoint rewrites
// one slice, not every slice after it. New endpoints fill the live slices with
// room, in slice order, then new slices with the smallest free numbers; a live
// slice left empty goes. When that layout has two or more slices more than the
// endpoints need, the group is packed afresh in address order, which is also
// the layout without live slices (endpoints removed in bulk from a few slices
// only delete those). Over a converged target the result is the live layout,
// so a restart writes nothing.
func assignEndpoints(eps []discoveryv1.Endpoint, live map[int][]discoveryv1.Endpoint, max int) []chunk {
	need := (len(eps) + max - 1) / max
	if len(live) > 0 {
		if stable := keepInPlace(eps, live, max); len(stable) < need+2 {
			return stable
		}
	}
	var out []chunk
	for n, c := range slices.Collect(slices.Chunk(eps, max)) {
		out = append(out, chunk{index: n + 1, endpoints: slices.Clone(c)})
	}
	return out
}

// keepInPlace is assignEndpoints' layout that keeps every endpoint in the live
// slice it is in.
func keepInPlace(eps []discoveryv1.Endpoint, live map[int][]discoveryv1.Endpoint, max int) []chunk {
	position := make(map[string]int, len(eps))
	for i, ep := range eps {
		position[strings.Join(ep.Addresses, ",")] = i
	}
	placed := make([]bool, len(eps))
	var out []chunk
	for _, index := range slices.Sorted(maps.Keys(live)) {
		c := chunk{index: index}
		for _, ep := range live[index] {
			if i, ok := position[strings.Join(ep.Addresses, ",")]; ok && !placed[i] && len(c.endpoints) < max {
				placed[i] = true
				c.endpoints = append(c.endpoints, eps[i])
			}
		}
		out = append(out, c)
	}
	next := 0
	fill := func(c *chunk) {
		for ; next < len(eps) && len(c.endpoints) < max; next++ {
			if !placed[next] {
				placed[next] = true
				c.endpoints = append(c.endpoints, eps[next])
			}
		}
	}
	for i := range out {
		fill(&out[i])
	}
	for index := 1; next < len(eps); index++ {
		if _, taken := live[index]; !taken {
			c := chunk{index: index}
			fill(&c)
			out = append(out, c)
		}
	}
	out = slices.DeleteFunc(out, func(c chunk) bool { return len(c.endpoints) == 0 })
	for _, c := range out {
		slices.SortFunc(c.endpoints, compareEndpoints)
	}
	return out
}

// isMainPortSet reports whether g has the main port set of its address type:
// the one with most endpoints, ties broken by the smaller port key.
func isMainPortSet(g *endpointGroup, groups []*endpointGroup) bool {
	for _, o := range groups {
		if o.addressType != g.addressType || o == g {
			continue
		}
		if len(o.endpoints) > len(g.endpoints) || (len(o.endpoints) == len(g.endpoints) && o.portKey < g.portKey) {
			return false
		}
	}
	return true
}

// exposedPortNames returns the names of svc's ports that the merged service
// exposes unchanged: same name, protocol and port.
func exposedPortNames(s *Service, svc *corev1.Service) map[string]bool {
	exposed := make(map[string]bool, len(svc.Spec.Ports))
	for _, p := range servicePorts(svc) {
		for _, m := range s.Ports {
			if m.Name == p.Name && m.Protocol == p.Protocol && m.Port == p.Port {
				exposed[p.Name] = true
			}
		}
	}
	return exposed
}

// mirroredPorts copies the exposed ports of a source slice, sorted. It
// reports false when the slice had ports but none of them is exposed.
func mirroredPorts(src []discoveryv1.EndpointPort, exposed map[string]bool) ([]discoveryv1.EndpointPort, bool) {
	var out []discoveryv1.EndpointPort
	for _, p := range src {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if exposed[name] {
			out = append(out, discoveryv1.EndpointPort{
				Name:        ptrTo(name),
				Protocol:    ptrTo(normalProtocol(ptrValue(p.Protocol))),
				Port:        clonePtr(p.Port),
				AppProtocol: clonePtr(p.AppProtocol),
			})
		}
	}
	slices.SortFunc(out, compareEndpointPorts)
	return out, len(out) > 0 || len(src) == 0
}

// portKey identifies a sorted port set. (endpointsliceutil.NewPortMapKey
// does the same through reflection, which cost a quarter of a resync.)
func portKey(ports []discoveryv1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s/%s/%d/%s,", ptrValue(p.Name), ptrValue(p.Protocol), ptrValue(p.Port), ptrValue(p.AppProtocol))
	}
	return b.String()
}

func compareEndpointPorts(a, b discoveryv1.EndpointPort) int {
	return cmp.Or(cmp.Compare(ptrValue(a.Name), ptrValue(b.Name)),
		cmp.Compare(ptrValue(a.Protocol), ptrValue(b.Protocol)),
		cmp.Compare(ptrValue(a.Port), ptrValue(b.Port)))
}

func clonePorts(ports []discoveryv1.EndpointPort) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for _, p := range ports {
		out = append(out, discoveryv1.EndpointPort{
			Name: clonePtr(p.Name), Protocol: clonePtr(p.Protocol), Port: clonePtr(p.Port), AppProtocol: clonePtr(p.AppProtocol),
		})
	}
	return out
}

// mirroredEndpoint copies the fields of a source endpoint that the syncer
// mirrors; nodeName and targetRef only when the endpoint is the target's own.
func mirroredEndpoint(ep discoveryv1.Endpoint, local bool) discoveryv1.Endpoint {
	out := discoveryv1.Endpoint{
		Addresses: slices.Clone(ep.Addresses),
		Conditions: discoveryv1.EndpointConditions{
			Ready:       clonePtr(ep.Conditions.Ready),
			Serving:     clonePtr(ep.Conditions.Serving),
			Terminating: clonePtr(ep.Conditions.Terminating),
		},
		Hostname: clonePtr(ep.Hostname),
		Zone:     clonePtr(ep.Zone),
	}
	if !local {
		return out
	}
	out.NodeName = clonePtr(ep.NodeName)
	if ep.TargetRef != nil {
		ref := *ep.TargetRef
		ref.ResourceVersion = ""
		out.TargetRef = &ref
	}
	return out
}

func firstAddress(ep discoveryv1.Endpoint) string {
	if len(ep.Addresses) == 0 {
		return ""
	}
	return ep.Addresses[0]
}

// compareEndpoints orders endpoints by addresses and then by every mirrored
// field, so that the order, and which of two duplicates is kept, never
// depends on the order of the source slices.
func compareEndpoints(a, b discoveryv1.Endpoint) int {
	if c := slices.Compare(a.Addresses, b.Addresses); c != 0 {
		return c
	}
	ra, rb := ptrValue(a.TargetRef), ptrValue(b.TargetRef)
	return cmp.Or(
		comparePtr(a.Hostname, b.Hostname),
		cmp.Compare(ra.Kind, rb.Kind), cmp.Compare(ra.Namespace, rb.Namespace),
		cmp.Compare(ra.Name, rb.Name), cmp.Compare(ra.UID, rb.UID),
		comparePtr(a.NodeName, b.NodeName),
		comparePtr(a.Zone, b.Zone),
		compareBoolPtr(a.Conditions.Ready, b.Conditions.Ready),
		compareBoolPtr(a.Conditions.Serving, b.Conditions.Serving),
		compareBoolPtr(a.Conditions.Terminating, b.Conditions.Terminating),
	)
}

// comparePtr orders nil before any value.
func comparePtr[T cmp.Ordered](a, b *T) int {
	if a == nil || b == nil {
		return cmp.Compare(boolRank(a != nil), boolRank(b != nil))
	}
	return cmp.Compare(*a, *b)
}

// compareBoolPtr orders nil, then true, then false, so that of two duplicate
// endpoints the ready one is kept.
func compareBoolPtr(a, b *bool) int {
	rank := func(p *bool) int {
		switch {
		case p == nil:
			return 0
		case *p:
			return 1
		default:
			return 2
		}
	}
	return cmp.Compare(rank(a), rank(b))
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

func ptrValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
