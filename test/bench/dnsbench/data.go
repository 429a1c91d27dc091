package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
)

const (
	benchNamespace = "bench"
	zone           = "clusterset.local."
)

// dataset describes what is loaded: services imports, every other one headless, each with
// endpointsPerCluster ready endpoints in each of clusters source clusters.
type dataset struct {
	services            int
	clusters            int
	endpointsPerCluster int
	names               []string // service names, see newDataset
}

// newDataset picks the service names svc-0, svc-1, ... but skips a name whose derived Service
// name (decimal Adler-32 of the name) is already taken: Adler-32 maps svc-120 and svc-201, and
// many such pairs, to the same value.
func newDataset(services, clusters, endpointsPerCluster int) dataset {
	d := dataset{services: services, clusters: clusters, endpointsPerCluster: endpointsPerCluster}
	taken := map[string]bool{}
	for i := 0; len(d.names) < services; i++ {
		name := fmt.Sprintf("svc-%d", i)
		if derived := desired.DerivedServiceName(name); !taken[derived] {
			taken[derived] = true
			d.names = append(d.names, name)
		}
	}
	return d
}

func (d dataset) serviceName(i int) string { return d.names[i] }
func (d dataset) headless(i int) bool      { return i%2 == 1 }
func (d dataset) clusterID(c int) string   { return fmt.Sprintf("cluster-%d", c+1) }

// hostname is set on headless endpoints only, as for a StatefulSet's Pods.
func (d dataset) hostname(i, e int) string {
	if !d.headless(i) {
		return ""
	}
	return fmt.Sprintf("pod-%d", e)
}

// podIP is unique per (service, cluster, endpoint) for up to 1,000 endpoints per cluster and
// service and 65,536 services.
func (d dataset) podIP(i, c, e int) string {
	n := i*d.endpointsPerCluster + e
	return fmt.Sprintf("10.%d.%d.%d", 128+c, n/250, n%250+1)
}

// exports is what every source cluster holds for service i: a ServiceExport, the Service and
// one EndpointSlice of ready endpoints.
func (d dataset) exports(i int) []desired.ClusterExport {
	name := d.serviceName(i)
	var out []desired.ClusterExport
	for c := range d.clusters {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name},
			Spec: corev1.ServiceSpec{
				Type:       corev1.ServiceTypeClusterIP,
				ClusterIP:  fmt.Sprintf("10.%d.%d.%d", 96+c, i/250, i%250+1),
				IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
				Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		if d.headless(i) {
			svc.Spec.ClusterIP = corev1.ClusterIPNone
		}
		port, portName, proto := int32(8080), "http", corev1.ProtocolTCP
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name + "-abcde",
				Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Protocol: &proto, Port: &port}},
		}
		for e := range d.endpointsPerCluster {
			ready := true
			ep := discoveryv1.Endpoint{
				Addresses:  []string{d.podIP(i, c, e)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &ready},
				NodeName:   new(fmt.Sprintf("node-%d", e%3)),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: benchNamespace, Name: fmt.Sprintf("%s-%d", name, e)},
			}
			if h := d.hostname(i, e); h != "" {
				ep.Hostname = &h
			}
			slice.Endpoints = append(slice.Endpoints, ep)
		}
		out = append(out, desired.ClusterExport{
			ClusterID: d.clusterID(c),
			Export:    &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name}},
			Service:   svc,
			Slices:    []*discoveryv1.EndpointSlice{slice},
		})
	}
	return out
}

// load writes into one cluster what the clusterset syncer would write there for the data set:
// per service the derived Service, the ServiceImport (with the derived Service's clusterIPs) and
// the mirrored EndpointSlices, computed by the syncer's own desired package.
func load(ctx context.Context, kube kubernetes.Interface, mc mcsclient.Interface, d dataset) error {
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range d.services {
		g.Go(func() error {
			if err := loadService(ctx, kube, mc, d, i); err != nil {
				return fmt.Errorf("%s: %w", d.serviceName(i), err)
			}
			return nil
		})
	}
	return g.Wait()
}

func loadService(ctx context.Context, kube kubernetes.Interface, mc mcsclient.Interface, d dataset, i int) error {
	exports := d.exports(i)
	s, _ := desired.Merge(benchNamespace, d.serviceName(i), exports)
	if s == nil {
		return fmt.Errorf("no valid export")
	}
	derived, err := kube.CoreV1().Services(benchNamespace).Create(ctx, desired.DerivedService(s, desired.DerivedServiceName(s.Name), nil), metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if _, err := mc.MulticlusterV1alpha1().ServiceImports(benchNamespace).Create(ctx, desired.ServiceImport(s, derived), metav1.CreateOptions{}); err != nil {
		return err
	}
	slices, _ := desired.EndpointSlices(s, exports, desired.SliceOptions{DerivedName: derived.Name})
	for _, sl := range slices {
		if _, err := kube.DiscoveryV1().EndpointSlices(benchNamespace).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// queries is the dnsperf input: every service name (A: one ClusterSetIP, or the endpoints of
// every cluster), one per-endpoint name per headless service, and names that do not exist
// (NXDOMAIN), one for every ten services. All three servers answer all of them.
func (d dataset) queries() []string {
	var q []string
	for i := range d.services {
		name := d.serviceName(i) + "." + benchNamespace + ".svc." + zone
		q = append(q, name+" A")
		if d.headless(i) {
			q = append(q, d.hostname(i, i%d.endpointsPerCluster)+"."+d.clusterID(i%d.clusters)+"."+name+" A")
		}
		if i%10 == 0 {
			q = append(q, "missing-"+d.serviceName(i)+"."+benchNamespace+".svc."+zone+" A")
		}
	}
	return q
}

func writeQueries(path string, d dataset) error {
	return os.WriteFile(path, []byte(strings.Join(d.queries(), "\n")+"\n"), 0o644)
}
