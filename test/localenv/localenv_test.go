package localenv

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/test/proc"
)

func TestThreeClustersWithRealEndpointSlices(t *testing.T) {
	env := StartT(t, Options{Clusters: 3, ControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if len(env.Clusters) != 3 {
		t.Fatalf("got %d clusters, want 3", len(env.Clusters))
	}
	for i, c := range env.Clusters {
		dyn, err := dynamic.NewForConfig(c.Config)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{ClusterIDProperty: "cluster-" + strconv.Itoa(i+1), ClusterSetProperty: "clusterset-1"} {
			prop, err := dyn.Resource(propertyResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: get property %s: %v", c.ID, name, err)
			}
			if got, _, _ := unstructured.NestedString(prop.Object, "spec", "value"); got != want {
				t.Errorf("%s: property %s = %q, want %q", c.ID, name, got, want)
			}
		}
		if _, err := os.Stat(filepath.Join(env.Dir, c.ID, "kubeconfig")); err != nil {
			t.Errorf("%s: kubeconfig: %v", c.ID, err)
		}
	}

	c := env.Clusters[0]
	kube := kubernetes.NewForConfigOrDie(c.Config)
	mcs := mcsclient.NewForConfigOrDie(c.Config)
	labels := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if _, err := kube.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}}
	if _, err := mcs.MulticlusterV1alpha1().ServiceExports("default").Create(ctx, export, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
	}
	if _, err := kube.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.MakePodReady(ctx, "default", "web-0", "10.244.1.5"); err != nil {
		t.Fatal(err)
	}

	var slice *discoveryv1.EndpointSlice
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := kube.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			if len(list.Items[i].Endpoints) > 0 {
				slice = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no EndpointSlice with endpoints from kube-controller-manager: %v", err)
	}
	ep := slice.Endpoints[0]
	if got := ep.Addresses; len(got) != 1 || got[0] != "10.244.1.5" {
		t.Errorf("endpoint addresses = %v, want [10.244.1.5]", got)
	}
	if ep.NodeName == nil || *ep.NodeName != c.NodeName || ep.Zone == nil || *ep.Zone != c.ID+"-zone" {
		t.Errorf("endpoint node/zone = %v/%v, want %s/%s-zone", ep.NodeName, ep.Zone, c.NodeName, c.ID)
	}
	if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
		t.Errorf("endpoint not ready: %+v", ep.Conditions)
	}
	if got := slice.Labels[discoveryv1.LabelManagedBy]; got != "endpointslice-controller.k8s.io" {
		t.Errorf("slice managed by %q, want the EndpointSlice controller", got)
	}
	if slice.Ports[0].Name == nil || *slice.Ports[0].Name != "http" {
		t.Errorf("slice ports = %+v, want http", slice.Ports)
	}

	// Clusters are isolated: the Service exists only in cluster-1.
	other := kubernetes.NewForConfigOrDie(env.Clusters[1].Config)
	if _, err := other.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{}); err == nil {
		t.Error("cluster-2 sees cluster-1's Service: etcd prefixes are not isolated")
	}
}

func TestStopRestartAPIServer(t *testing.T) {
	env := StartT(t, Options{Clusters: 1})
	c := env.Clusters[0]
	kube := kubernetes.NewForConfigOrDie(c.Config)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err == nil {
		t.Fatal("apiserver still answers after StopAPIServer")
	}
	if err := c.StartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Fatalf("data lost across restart: %v", err)
	}
}

func TestDetachedUpAndDown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "env")
	env, err := Start(context.Background(), Options{Clusters: 2, Dir: dir, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	procs := env.Processes()
	t.Cleanup(func() { _, _ = Down(dir) }) // in case an assertion below fails first
	if len(procs) != 3 {
		t.Fatalf("got %d processes, want etcd and 2 apiservers: %+v", len(procs), procs)
	}

	// A second up into the same dir is refused and leaves the first running.
	if _, err := Start(context.Background(), Options{Clusters: 1, Dir: dir}); err == nil || !strings.Contains(err.Error(), "already holds a running") {
		t.Fatalf("second Start into %s: err = %v, want 'already holds a running'", dir, err)
	}
	for _, p := range procs {
		if !proc.Alive(p.PID, dir) {
			t.Fatalf("%s (pid %d) died after the refused second Start", p.Name, p.PID)
		}
	}

	stopped, err := Down(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != len(procs) {
		t.Errorf("Down stopped %d processes, want %d", len(stopped), len(procs))
	}
	for _, p := range procs {
		if proc.Alive(p.PID, dir) {
			t.Errorf("%s (pid %d) still running after Down", p.Name, p.PID)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Down (err %v)", dir, err)
	}
}

func TestBadInputStartsNothing(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"zero clusters", Options{Clusters: 0}, "clusters must be between 1"},
		{"too many clusters", Options{Clusters: MaxClusters + 1}, "clusters must be between 1"},
		{"bad clusterset", Options{Clusters: 1, ClusterSetID: "Not_A_Label"}, "not a DNS label"},
		{"missing binaries", Options{Clusters: 1, BinDir: t.TempDir()}, "make tools"},
		{"port in use", Options{Clusters: 1, BasePort: busy}, "already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "env")
			tc.opts.Dir = dir
			env, err := Start(context.Background(), tc.opts)
			if err == nil {
				env.Stop()
				t.Fatalf("Start succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s was created although Start failed", dir)
			}
		})
	}
}

// Every cluster's Pod addresses must survive every peer's address filter, which drops
// addresses in the importing cluster's Service ranges.
func TestPodIPsLieOutsideEveryServiceCIDR(t *testing.T) {
	env := &Env{}
	var clusters []*Cluster
	for i := 1; i <= MaxClusters; i++ {
		clusters = append(clusters, env.newCluster(i, 0))
	}
	for _, c := range clusters {
		pods := netip.MustParsePrefix(c.PodCIDR)
		for _, n := range []int{0, 1, 254, 255, 256, MaxPodIPs - 1} {
			ip := netip.MustParseAddr(c.PodIP(n))
			if !pods.Contains(ip) || ip == pods.Addr() {
				t.Errorf("%s: PodIP(%d) = %s, not a host address of %s", c.ID, n, ip, c.PodCIDR)
			}
			for _, other := range clusters {
				if netip.MustParsePrefix(other.ServiceCIDR).Contains(ip) {
					t.Errorf("%s: PodIP(%d) = %s lies in %s's ServiceCIDR %s", c.ID, n, ip, other.ID, other.ServiceCIDR)
				}
			}
		}
		if c.PodIP(0) == c.PodIP(MaxPodIPs-1) || c.PodIP(255) == c.PodIP(256) {
			t.Errorf("%s: PodIP repeats an address", c.ID)
		}
	}
	if clusters[0].PodCIDR == clusters[1].PodCIDR {
		t.Errorf("clusters share the PodCIDR %s", clusters[0].PodCIDR)
	}
}
