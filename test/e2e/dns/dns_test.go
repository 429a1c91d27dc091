package dns

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
	"github.com/clusterset/clusterset/test/stack"
)

const (
	ns      = "mcs-dns"
	timeout = 90 * time.Second
	// memberTTL is the syncers' --member-ttl: how long an unreachable member keeps its endpoints.
	memberTTL = 20 * time.Second
)

// The conformance suite's service: a TCP and a UDP port of the same number.
var helloPorts = []corev1.ServicePort{
	{Name: "tcp", Port: 42, Protocol: corev1.ProtocolTCP},
	{Name: "udp", Port: 42, Protocol: corev1.ProtocolUDP},
}

// member is one cluster with its clients and its CoreDNS.
type member struct {
	*localenv.Cluster
	kube kubernetes.Interface
	mcs  mcsclient.Interface
	dns  string // host:port of its CoreDNS
}

func TestMCSDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := localenv.StartT(t, localenv.Options{Clusters: 3, ControllerManager: true})
	st, err := stack.Start(ctx, env, stack.Options{ClusterLocal: true, MemberTTL: memberTTL, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	var m []*member
	for i, c := range env.Clusters {
		mb := &member{Cluster: c, kube: kubernetes.NewForConfigOrDie(c.Config), mcs: mcsclient.NewForConfigOrDie(c.Config), dns: st.DNS[i].Addr}
		if _, err := mb.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		m = append(m, mb)
	}
	c1, c2, c3 := m[0], m[1], m[2]

	// hello: ClusterSetIP, exported from cluster-1 only (as in the conformance suite).
	c1.deploy(ctx, t, "hello", false, map[string]string{"hello-a": "10.201.0.1"})
	c1.export(ctx, t, "hello")
	// hello-hl: headless without hostnames, exported from cluster-1 and cluster-2.
	c1.deploy(ctx, t, "hello-hl", true, map[string]string{"hl-a": "10.201.1.1", "hl-b": "10.201.1.2"})
	c2.deploy(ctx, t, "hello-hl", true, map[string]string{"hl-a": "10.202.1.1", "hl-b": "10.202.1.2"})
	c1.export(ctx, t, "hello-hl")
	c2.export(ctx, t, "hello-hl")
	// web: StatefulSet-like (pods with hostname and subdomain), exported from cluster-1 and
	// cluster-3, both with a web-0.
	c1.deploy(ctx, t, "web", true, map[string]string{"web-0": "10.201.2.1", "web-1": "10.201.2.2"}, "web-0", "web-1")
	c3.deploy(ctx, t, "web", true, map[string]string{"web-0": "10.203.2.1"}, "web-0")
	c1.export(ctx, t, "web")
	c3.export(ctx, t, "web")

	svcName := func(svc string) string { return svc + "." + ns + ".svc.clusterset.local." }

	t.Run("ClusterSetIP A is the import's spec.ips", func(t *testing.T) {
		for _, c := range m {
			c.await(t, svcName("hello"), dns.TypeA, func(ctx context.Context) (answer, error) {
				si, err := c.mcs.MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, "hello", metav1.GetOptions{})
				if err != nil || len(si.Spec.IPs) == 0 {
					return answer{}, fmt.Errorf("ServiceImport without IPs yet (%v)", err)
				}
				return answer{rcode: dns.RcodeSuccess, values: si.Spec.IPs}, nil
			})
		}
	})

	t.Run("ClusterSetIP SRV at the service name", func(t *testing.T) {
		// One record for port 42 (TCP and UDP), targeting the service name.
		for _, c := range m {
			c.await(t, svcName("hello"), dns.TypeSRV, fixed(dns.RcodeSuccess, "42 "+svcName("hello")))
		}
	})

	helloHL := map[string][]string{"cluster-1": {"10.201.1.1", "10.201.1.2"}, "cluster-2": {"10.202.1.1", "10.202.1.2"}}
	t.Run("headless A has every cluster's ready endpoints", func(t *testing.T) {
		all := slices.Concat(slices.Collect(maps.Values(helloHL))...)
		for _, c := range m {
			c.await(t, svcName("hello-hl"), dns.TypeA, fixed(dns.RcodeSuccess, all...))
		}
	})

	t.Run("headless imports carry the exported Services' IP families", func(t *testing.T) {
		// The conformance suite refuses a Headless ServiceImport without ipFamilies.
		for _, c := range m {
			for _, svc := range []string{"hello-hl", "web"} {
				var last string
				err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
					si, err := c.mcs.MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, svc, metav1.GetOptions{})
					if err != nil {
						last = err.Error()
						return false, nil
					}
					last = fmt.Sprintf("type %s, ipFamilies %v, ips %v", si.Spec.Type, si.Spec.IPFamilies, si.Spec.IPs)
					return si.Spec.Type == mcs.Headless && slices.Equal(si.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) && len(si.Spec.IPs) == 0, nil
				})
				if err != nil {
					t.Errorf("%s: ServiceImport %s: %s, want Headless with ipFamilies [IPv4] and no ips", c.ID, svc, last)
				}
			}
		}
	})

	t.Run("headless SRV at the service name targets each endpoint", func(t *testing.T) {
		var want []string
		for cluster, ips := range helloHL {
			for _, ip := range ips {
				want = append(want, "42 "+strings.ReplaceAll(ip, ".", "-")+"."+cluster+"."+svcName("hello-hl"))
			}
		}
		for _, c := range m {
			c.await(t, svcName("hello-hl"), dns.TypeSRV, fixed(dns.RcodeSuccess, want...))
		}
	})

	web := map[string]string{
		"web-0.cluster-1." + svcName("web"): "10.201.2.1",
		"web-1.cluster-1." + svcName("web"): "10.201.2.2",
		"web-0.cluster-3." + svcName("web"): "10.203.2.1",
	}
	t.Run("StatefulSet-like per-endpoint names", func(t *testing.T) {
		for _, c := range m {
			for name, ip := range web {
				c.await(t, name, dns.TypeA, fixed(dns.RcodeSuccess, ip))
			}
			c.await(t, svcName("web"), dns.TypeSRV, fixed(dns.RcodeSuccess, slices.Sorted(func(yield func(string) bool) {
				for name := range web {
					if !yield("80 " + name) {
						return
					}
				}
			})...))
			// <clusterid>.<svc> is reserved.
			c.await(t, "cluster-1."+svcName("web"), dns.TypeA, fixed(dns.RcodeNameError))
		}
	})

	t.Run("cluster.local resolves only local services", func(t *testing.T) {
		local, err := c1.kube.CoreV1().Services(ns).Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		clusterLocal := "hello." + ns + ".svc.cluster.local."
		c1.await(t, clusterLocal, dns.TypeA, fixed(dns.RcodeSuccess, local.Spec.ClusterIP))
		for _, c := range []*member{c2, c3} { // no Service hello there: only its import
			c.await(t, clusterLocal, dns.TypeA, fixed(dns.RcodeNameError))
		}
	})

	// The plugin serves no PTR: the kubernetes plugin already answers for the derived Service's
	// cluster IP and for the endpoints of its (mirrored) EndpointSlices.
	t.Run("clusterset IPs and remote endpoints have PTR records from the kubernetes plugin", func(t *testing.T) {
		derived := func(c *member, svc string) (*mcs.ServiceImport, string) {
			si, err := c.mcs.MulticlusterV1alpha1().ServiceImports(ns).Get(ctx, svc, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: ServiceImport %s: %v", c.ID, svc, err)
			}
			return si, si.Annotations[desired.DerivedServiceAnnotation] + "." + ns + ".svc.cluster.local."
		}
		reverse := func(ip string) string {
			rev, err := dns.ReverseAddr(ip)
			if err != nil {
				t.Fatal(err)
			}
			return rev
		}
		for _, c := range m {
			si, name := derived(c, "hello")
			if len(si.Spec.IPs) == 0 {
				t.Fatalf("%s: ServiceImport hello without IPs", c.ID)
			}
			c.await(t, reverse(si.Spec.IPs[0]), dns.TypePTR, fixed(dns.RcodeSuccess, name))
		}
		// cluster-2's endpoints, seen from the clusters where they are remote.
		for _, c := range []*member{c1, c3} {
			_, name := derived(c, "hello-hl")
			c.await(t, reverse("10.202.1.1"), dns.TypePTR, fixed(dns.RcodeSuccess, "10-202-1-1."+name))
		}
	})

	t.Run("apex: NS with glue, dns-version, no zone transfers", func(t *testing.T) {
		for _, c := range m {
			host, _, err := net.SplitHostPort(c.dns)
			if err != nil {
				t.Fatal(err)
			}
			for _, network := range []string{"udp", "tcp"} {
				r, err := c.exchange(context.Background(), network, "clusterset.local.", dns.TypeNS)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Answer) != 1 || r.Answer[0].(*dns.NS).Ns != "ns.dns.clusterset.local." ||
					len(r.Extra) != 1 || r.Extra[0].Header().Name != "ns.dns.clusterset.local." || r.Extra[0].(*dns.A).A.String() != host {
					t.Errorf("%s NS over %s: %v, want ns.dns.clusterset.local. with glue %s", c.ID, network, r, host)
				}
			}
			c.expectNow(t, "ns.dns.clusterset.local.", dns.TypeA, answer{rcode: dns.RcodeSuccess, values: []string{host}})
			c.expectNow(t, "dns-version.clusterset.local.", dns.TypeTXT, answer{rcode: dns.RcodeSuccess, values: []string{"1.0.0"}})
			for _, qtype := range []uint16{dns.TypeAXFR, dns.TypeIXFR} {
				r, err := c.exchange(context.Background(), "tcp", "clusterset.local.", qtype)
				if err != nil || r.Rcode != dns.RcodeRefused {
					t.Errorf("%s %s: %v %v, want REFUSED", c.ID, dns.TypeToString[qtype], r, err)
				}
			}
		}
	})

	t.Run("a deleted endpoint leaves every cluster, the others stay", func(t *testing.T) {
		if err := c3.kube.CoreV1().Pods(ns).Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
			t.Fatal(err)
		}
		for _, c := range m {
			c.await(t, "web-0.cluster-3."+svcName("web"), dns.TypeA, fixed(dns.RcodeNameError))
			c.await(t, svcName("web"), dns.TypeA, fixed(dns.RcodeSuccess, "10.201.2.1", "10.201.2.2"))
		}
		// Cluster-1's endpoints never went away meanwhile: they answer at once.
		for _, c := range m {
			for _, name := range []string{"web-0.cluster-1." + svcName("web"), "web-1.cluster-1." + svcName("web")} {
				c.expectNow(t, name, dns.TypeA, answer{rcode: dns.RcodeSuccess, values: []string{web[name]}})
			}
		}
	})

	t.Run("a blackholed member: nothing changes before the member TTL, then only its endpoints go", func(t *testing.T) {
		all := slices.Concat(helloHL["cluster-1"], helloHL["cluster-2"])
		hello := map[*member]answer{}
		for _, c := range m {
			a, err := c.ask(ctx, "udp", svcName("hello"), dns.TypeA)
			if err != nil || len(a.values) == 0 {
				t.Fatalf("%s: hello A: %v %v", c.ID, a, err)
			}
			hello[c] = a
		}
		resume := blackhole(t, env, c2.ID)
		stopped := time.Now()
		// Well inside the TTL (the heartbeat is renewed every TTL/3, so it expires 2/3 TTL after the
		// stop at the earliest), every CoreDNS (cluster-2's too, whose apiserver is gone) answers as
		// before: a member that cannot be read is unknown, not empty.
		for time.Since(stopped) < memberTTL/2 {
			for _, c := range m {
				c.expectNow(t, svcName("hello"), dns.TypeA, hello[c])
				c.expectNow(t, svcName("hello-hl"), dns.TypeA, answer{rcode: dns.RcodeSuccess, values: all})
				c.expectNow(t, "10-202-1-1.cluster-2."+svcName("hello-hl"), dns.TypeA, answer{rcode: dns.RcodeSuccess, values: []string{"10.202.1.1"}})
			}
			time.Sleep(500 * time.Millisecond)
		}
		if t.Failed() {
			return
		}
		// After it, cluster-2's endpoints leave the other clusters; the rest stays.
		for _, c := range []*member{c1, c3} {
			c.await(t, svcName("hello-hl"), dns.TypeA, fixed(dns.RcodeSuccess, helloHL["cluster-1"]...))
			c.await(t, "10-202-1-1.cluster-2."+svcName("hello-hl"), dns.TypeA, fixed(dns.RcodeNameError))
			c.expectNow(t, svcName("hello"), dns.TypeA, hello[c])
		}
		t.Logf("cluster-2's endpoints withdrawn %.1fs after its apiserver stopped (member TTL %v)", time.Since(stopped).Seconds(), memberTTL)
		// Cluster-2's own CoreDNS still serves its last index.
		c2.expectNow(t, svcName("hello-hl"), dns.TypeA, answer{rcode: dns.RcodeSuccess, values: all})

		resume()
		for _, c := range m {
			c.await(t, svcName("hello-hl"), dns.TypeA, fixed(dns.RcodeSuccess, all...))
		}
	})
}

// blackhole stops the cluster's apiserver with SIGSTOP: connections to it open but nothing
// answers. It returns the function that resumes it, which also runs at cleanup.
func blackhole(t *testing.T, env *localenv.Env, cluster string) (resume func()) {
	t.Helper()
	pid := 0
	for _, p := range env.Processes() {
		if p.Name == cluster+"/kube-apiserver" {
			pid = p.PID
		}
	}
	if pid == 0 {
		t.Fatalf("no apiserver process of %s in %v", cluster, env.Processes())
	}
	return proc.Freeze(t, cluster+" apiserver", pid)
}

// deploy creates a Service with helloPorts (headless or not) and ready Pods (name -> IP) that the
// cluster's EndpointSlice controller publishes. Pods listed in withHostname get hostname and
// subdomain, as a StatefulSet's do; the Service then gets port 80 named web instead.
func (c *member) deploy(ctx context.Context, t *testing.T, name string, headless bool, pods map[string]string, withHostname ...string) {
	t.Helper()
	labels := map[string]string{"app": name}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: helloPorts},
	}
	if len(withHostname) > 0 {
		svc.Spec.Ports = []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP}}
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if _, err := c.kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pod := range slices.Sorted(maps.Keys(pods)) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "e2e/" + name}}},
		}
		if slices.Contains(withHostname, pod) {
			p.Spec.Hostname, p.Spec.Subdomain = pod, name
		}
		if _, err := c.kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.MakePodReady(ctx, ns, pod, pods[pod]); err != nil {
			t.Fatal(err)
		}
	}
	if len(withHostname) > 0 {
		c.awaitHostnames(ctx, t, name, len(withHostname))
	}
}

// awaitHostnames waits until the Service's EndpointSlices carry n endpoints with a hostname.
func (c *member) awaitHostnames(ctx context.Context, t *testing.T, svc string, n int) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + svc})
		if err != nil {
			return false, nil
		}
		got := 0
		for _, s := range list.Items {
			for _, ep := range s.Endpoints {
				if ep.Hostname != nil && *ep.Hostname != "" {
					got++
				}
			}
		}
		return got == n, nil
	})
	if err != nil {
		t.Fatalf("%s: EndpointSlices of %s never had %d hostnames: %v", c.ID, svc, n, err)
	}
}

func (c *member) export(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	se := &mcs.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if _, err := c.mcs.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// answer is what a query must get: the response code and the sorted answer values (addresses;
// SRV as "<port> <target>"; PTR targets).
type answer struct {
	rcode  int
	values []string
}

func (a answer) String() string { return dns.RcodeToString[a.rcode] + " " + fmt.Sprint(a.values) }

func fixed(rcode int, values ...string) func(context.Context) (answer, error) {
	return func(context.Context) (answer, error) { return answer{rcode: rcode, values: values}, nil }
}

// await asks the cluster's CoreDNS name/qtype over UDP and over TCP until both get the wanted
// answer, which want computes anew on every try.
func (c *member) await(t *testing.T, name string, qtype uint16, want func(context.Context) (answer, error)) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		var last string
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			w, err := want(ctx)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			got, err := c.ask(ctx, network, name, qtype)
			if err != nil {
				last = err.Error()
				return false, nil
			}
			slices.Sort(w.values)
			last = fmt.Sprintf("got %v, want %v", got, w)
			return got.rcode == w.rcode && slices.Equal(got.values, w.values), nil
		})
		if err != nil {
			t.Fatalf("%s %s %s over %s: %s", c.ID, name, dns.TypeToString[qtype], network, last)
		}
	}
}

// expectNow asks once over UDP and TCP.
func (c *member) expectNow(t *testing.T, name string, qtype uint16, want answer) {
	t.Helper()
	for _, network := range []string{"udp", "tcp"} {
		got, err := c.ask(context.Background(), network, name, qtype)
		if err != nil || got.rcode != want.rcode || !slices.Equal(got.values, want.values) {
			t.Errorf("%s %s %s over %s: got %v (%v), want %v", c.ID, name, dns.TypeToString[qtype], network, got, err, want)
		}
	}
}

// ask sends one query and reads the answer section. Every answer of the clusterset zone must be
// authoritative and whole (no TC bit: these answers are small).
func (c *member) ask(ctx context.Context, network, name string, qtype uint16) (answer, error) {
	r, err := c.exchange(ctx, network, name, qtype)
	if err != nil {
		return answer{}, err
	}
	if !r.Authoritative || r.Truncated {
		return answer{}, fmt.Errorf("reply not authoritative or truncated: %v", r)
	}
	got := answer{rcode: r.Rcode}
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			got.values = append(got.values, rr.A.String())
		case *dns.AAAA:
			got.values = append(got.values, rr.AAAA.String())
		case *dns.SRV:
			got.values = append(got.values, fmt.Sprintf("%d %s", rr.Port, rr.Target))
		case *dns.PTR:
			got.values = append(got.values, rr.Ptr)
		case *dns.TXT:
			got.values = append(got.values, rr.Txt...)
		default:
			return answer{}, fmt.Errorf("unexpected record %v", rr)
		}
	}
	slices.Sort(got.values)
	return got, nil
}

func (c *member) exchange(ctx context.Context, network, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	cl := &dns.Client{Net: network, Timeout: 2 * time.Second}
	r, _, err := cl.ExchangeContext(ctx, q, c.dns)
	return r, err
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
