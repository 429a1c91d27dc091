// Package dataplane proves that kube-proxy routes a ClusterSetIP to a Pod in
// another cluster over a flat Pod network: real apiservers, the built syncer
// and CoreDNS, and kube-proxy (iptables mode) in network namespaces that the
// test creates, with no route out.
package dataplane

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/netns"
	"github.com/clusterset/clusterset/test/proc"
	"github.com/clusterset/clusterset/test/stack"
)

// serveEnv makes the test binary, re-executed inside the pod namespace, an
// HTTP server instead of a test run.
const serveEnv = "CLUSTERSET_DATAPLANE_SERVE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(serveEnv); addr != "" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from web-0 in cluster-1\n")
		})
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

const (
	ns       = "dataplane"
	podIP    = "10.244.1.10"
	podPort  = 8080
	nodeCIDR = "/16" // one flat L2 Pod network: 10.244.0.0/16
)

// Topology: a bridge in namespace "fabric" joins node-1, node-2 and the pod
// namespace pod-1 (cluster-1's web-0). Each node runs its cluster's
// kube-proxy; node-2 also runs cluster-2's CoreDNS and the client.
func TestClusterSetIPRoutesToRemotePod(t *testing.T) {
	if err := netns.Check(); err != nil {
		t.Skipf("SKIPPED, NOT PASSED: the dataplane test needs network namespaces: %v", err)
	}
	for _, tool := range []string{"curl", "dig", "conntrack"} {
		if _, err := os.Stat("/usr/bin/" + tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				t.Skipf("SKIPPED, NOT PASSED: %s is not installed (apt-get install curl dnsutils conntrack)", tool)
			}
		}
	}
	netns.SweepStale()
	bin := filepath.Dir(bindir.Require(t, "kube-proxy")["kube-proxy"])

	env := localenv.StartT(t, localenv.Options{Clusters: 2, ControllerManager: true})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := stack.Start(ctx, env, stack.Options{Log: tlog{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	c1, c2 := env.Clusters[0], env.Clusters[1]

	fabric := newNS(t, "fabric")
	if err := fabric.Run("ip", "link", "add", "br0", "type", "bridge"); err != nil {
		t.Fatal(err)
	}
	if err := fabric.Run("ip", "link", "set", "br0", "up"); err != nil {
		t.Fatal(err)
	}
	attach := func(n *netns.NS, port, addr string) {
		t.Helper()
		if err := netns.Veth(n, "eth0", addr+nodeCIDR, fabric, port, ""); err != nil {
			t.Fatal(err)
		}
		if err := fabric.Run("ip", "link", "set", port, "master", "br0"); err != nil {
			t.Fatal(err)
		}
	}
	node1, node2, pod1 := newNS(t, "node-1"), newNS(t, "node-2"), newNS(t, "pod-1")
	attach(node1, "p-node1", "10.244.0.1")
	attach(node2, "p-node2", "10.244.0.2")
	attach(pod1, "p-pod1", podIP)

	// web-0's server, inside its pod namespace.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	server := startProc(t, "pod-1/web-0", env.Dir, append(pod1.Wrap(), self), fmt.Sprintf("%s=%s:%d", serveEnv, podIP, podPort))

	// kube-proxy per node, reaching its apiserver through a forwarder.
	for _, n := range []struct {
		ns *netns.NS
		c  *localenv.Cluster
	}{{node1, c1}, {node2, c2}} {
		kubeconfig := forwardAPIServer(t, n.ns, n.c, env.Dir)
		// The route sends Service VIPs into the node's iptables NAT rules.
		if err := n.ns.Run("ip", "route", "add", n.c.ServiceCIDR, "dev", "eth0"); err != nil {
			t.Fatal(err)
		}
		startProc(t, n.c.ID+"/kube-proxy", env.Dir, append(n.ns.Wrap(), filepath.Join(bin, "kube-proxy"),
			"--kubeconfig="+kubeconfig,
			"--proxy-mode=iptables",
			"--hostname-override="+n.c.NodeName,
			"--cluster-cidr=10.244.0.0/16",
			// Leave the namespace's conntrack settings as they are.
			"--conntrack-max-per-core=0",
			"--conntrack-tcp-timeout-established=0",
			"--conntrack-tcp-timeout-close-wait=0",
			"--metrics-bind-address=127.0.0.1:10249",
			"--healthz-bind-address=127.0.0.1:10256",
		), "")
	}

	// cluster-2's CoreDNS, inside node-2 where the client runs.
	dns2, err := stack.StartDNS(ctx, stack.DNSOptions{
		Cluster: c2, BinDir: bin, Dir: filepath.Join(env.Dir, "node-2-coredns"),
		Bind: "127.0.0.1", Kubeconfig: forwardAPIServer(t, node2, c2, env.Dir), Wrap: node2.Wrap(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns2.Proc.Stop(5 * time.Second) })

	// web in cluster-1, with its Pod made ready; the EndpointSlice
	// controller publishes it, then the export.
	kube1 := kubernetes.NewForConfigOrDie(c1.Config)
	mcs1 := mcsclient.NewForConfigOrDie(c1.Config)
	for _, c := range env.Clusters {
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
		if _, err := kubernetes.NewForConfigOrDie(c.Config).CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(podPort), Protocol: corev1.ProtocolTCP,
		}}},
	}
	if _, err := kube1.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}},
	}
	if _, err := kube1.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c1.MakePodReady(ctx, ns, "web-0", podIP); err != nil {
		t.Fatal(err)
	}
	export := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}}
	if _, err := mcs1.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, export, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	name := "web." + ns + ".svc.clusterset.local"
	host, port, _ := net.SplitHostPort(dns2.Addr)
	digIn := func() (string, error) {
		return node2.Output("dig", "@"+host, "-p", port, name, "A", "+noall", "+answer", "+comments", "+tries=1", "+time=1")
	}
	curlIn := func(ip string) (string, error) {
		return node2.Output("curl", "--noproxy", "*", "-sS", "--max-time", "1", "http://"+net.JoinHostPort(ip, "80")+"/")
	}

	var vip string
	eventually(t, "cluster-2's CoreDNS answers "+name+" with the ServiceImport's ClusterSetIP", func() error {
		si, err := mcsclient.NewForConfigOrDie(c2.Config).MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(si.Spec.IPs) != 1 {
			return fmt.Errorf("ServiceImport ips %v", si.Spec.IPs)
		}
		out, err := digIn()
		if err != nil {
			return err
		}
		if !answersA(out, si.Spec.IPs[0]) {
			return fmt.Errorf("dig answered %q, want %s", out, si.Spec.IPs[0])
		}
		vip = si.Spec.IPs[0]
		return nil
	})
	if _, ipnet, _ := net.ParseCIDR(c2.ServiceCIDR); !ipnet.Contains(net.ParseIP(vip)) {
		t.Fatalf("ClusterSetIP %s is not in cluster-2's Service CIDR %s", vip, c2.ServiceCIDR)
	}
	eventually(t, "curl from node-2 to the ClusterSetIP "+vip+" reaches web-0 in cluster-1", func() error {
		out, err := curlIn(vip)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "hello from web-0 in cluster-1") {
			return fmt.Errorf("unexpected reply %q", out)
		}
		return nil
	})
	if server.Exited() {
		t.Fatal("the pod's server exited")
	}

	if err := mcs1.MulticlusterV1alpha1().ServiceExports(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "after unexport, "+name+" is NXDOMAIN", func() error {
		out, err := digIn()
		if err != nil {
			return err
		}
		if !strings.Contains(out, "status: NXDOMAIN") {
			return fmt.Errorf("dig answered %q", out)
		}
		return nil
	})
	eventually(t, "after unexport, the ClusterSetIP "+vip+" no longer routes", func() error {
		if out, err := curlIn(vip); err == nil {
			return fmt.Errorf("still reachable: %q", out)
		}
		return nil
	})
}

// answersA reports whether dig's output has an A record for ip.
func answersA(digOutput, ip string) bool {
	for _, line := range strings.Split(digOutput, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[3] == "A" && f[4] == ip {
			return true
		}
	}
	return false
}

func newNS(t *testing.T, tag string) *netns.NS {
	t.Helper()
	n, err := netns.New(tag)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Delete(); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	return n
}

// forwardAPIServer makes cluster c's apiserver reachable at 127.0.0.1 inside
// n, and returns a kubeconfig for it there. The serving certificate is for
// 127.0.0.1, so TLS verification holds.
func forwardAPIServer(t *testing.T, n *netns.NS, c *localenv.Cluster, dir string) string {
	t.Helper()
	l, err := n.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := netns.Forward(l, strings.TrimPrefix(c.Server, "https://"))
	t.Cleanup(stop)
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + l.Addr().String()
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-in-%s.kubeconfig", c.ID, n.Name))
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startProc runs a command (already wrapped for its namespace) until the test
// ends; extraEnv is one NAME=value or empty.
func startProc(t *testing.T, name, dir string, cmd []string, extraEnv string) *proc.Process {
	t.Helper()
	if extraEnv != "" {
		cmd = append([]string{"env", extraEnv}, cmd...)
	}
	p := &proc.Process{
		Name:    name,
		Bin:     cmd[0],
		Args:    cmd[1:],
		LogPath: filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".log"),
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(5 * time.Second)
		if t.Failed() {
			t.Logf("%s log:\n%s", name, proc.Tail(p.LogPath, 20))
		}
	})
	return p
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, last)
	}
	t.Logf("ok: %s", what)
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
