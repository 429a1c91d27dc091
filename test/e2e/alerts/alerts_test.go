package alerts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
	"github.com/clusterset/clusterset/test/stack"
)

const (
	ns = "mcs-alerts"
	// memberTTL is the syncers' --member-ttl: how long an unreachable member keeps its endpoints.
	memberTTL = 15 * time.Second
	// maxEndpoints is the syncers' --max-endpoints-per-export.
	maxEndpoints = 5
	timeout      = 2 * time.Minute
	// scrapeGap is the time between two scrapes of one state: rates need two samples.
	scrapeGap = 5 * time.Second
)

// Alert names of deploy/monitoring/prometheusrule.yaml.
const (
	syncerDown         = "ClustersetSyncerDown"
	notReconciling     = "ClustersetSyncerNotReconciling"
	memberStale        = "ClustersetMemberStale"
	membersUndecided   = "ClustersetMembersUndecided"
	memberRefused      = "ClustersetMemberRefused"
	reconcileErrors    = "ClustersetReconcileErrors"
	writeErrors        = "ClustersetWriteErrors"
	exportsRefused     = "ClustersetExportsRefused"
	endpointsLimited   = "ClustersetExportEndpointsLimited"
	importsSkipped     = "ClustersetImportsSkipped"
	endpointsDropped   = "ClustersetEndpointsDropped"
	dnsIndexStale      = "ClustersetDNSIndexStale"
	dnsNoIndex         = "ClustersetDNSNoIndex"
	exportNotReady     = "ClustersetExportNotReady"
	exportConflict     = "ClustersetExportConflict"
	apiRequestsFailing = "ClustersetAPIRequestsFailing"
)

// member is one cluster with its clients and the metrics targets of its syncer and CoreDNS.
type member struct {
	*localenv.Cluster
	kube   kubernetes.Interface
	mcs    mcsclient.Interface
	syncer target
	dns    target
}

func TestAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	bins := bindir.Require(t, "promrules", "clusterset-syncer", "coredns", "kube-apiserver", "etcd")
	root, err := bindir.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ev := evaluator{
		bin:       bins["promrules"],
		rules:     filepath.Join(root, "deploy/monitoring/prometheusrule.yaml"),
		dashboard: filepath.Join(root, "deploy/monitoring/dashboard.json"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env := localenv.StartT(t, localenv.Options{Clusters: 3})
	st, err := stack.Start(ctx, env, stack.Options{
		MemberTTL: memberTTL, DNSMetrics: true,
		SyncerArgs: []string{fmt.Sprintf("--max-endpoints-per-export=%d", maxEndpoints)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	var m []*member
	for i, c := range env.Clusters {
		mb := &member{
			Cluster: c, kube: kubernetes.NewForConfigOrDie(c.Config), mcs: mcsclient.NewForConfigOrDie(c.Config),
			syncer: target{job: "clusterset-syncer", instance: c.ID + "/syncer", url: st.Syncers[i].Metrics},
			dns:    target{job: "coredns", instance: c.ID + "/coredns", url: st.DNS[i].Metrics},
		}
		mb.namespace(ctx, t, ns)
		m = append(m, mb)
	}
	c1, c2, c3 := m[0], m[1], m[2]
	// A second CoreDNS of cluster-2 reads its apiserver through a proxy that can freeze: the
	// partial world in which the DNS index stops following the cluster.
	link := startFreezer(t, strings.TrimPrefix(c2.Server, "https://"))
	frozen := startDNSThrough(ctx, t, c2, link.addr)
	var all []scraped // every real scrape, for the check that every metric was seen

	// Healthy: a service exported from two clusters, imported and resolvable in all three.
	c1.serve(ctx, t, ns, "web", "10.201.0.1", "10.201.0.2")
	c2.serve(ctx, t, ns, "web", "10.202.0.1")
	c1.export(ctx, t, ns, "web")
	c2.export(ctx, t, ns, "web")
	for _, d := range []target{c1.dns, c2.dns, c3.dns, frozen} {
		awaitMetric(t, d, "coredns_clusterset_imports", func(v float64) bool { return v == 1 })
	}
	for _, c := range []*member{c1, c2} {
		awaitMetric(t, c.syncer, exportCondition(c.ID, ns, "web", "Ready", "True"), func(v float64) bool { return v == 1 })
	}
	healthy := scrapeRounds(t, 4, c1.syncer, c1.dns, c2.syncer, c2.dns, frozen, c3.syncer, c3.dns)
	all = append(all, healthy...)
	t.Run("healthy: no alert expression returns a series", func(t *testing.T) {
		for _, c := range m {
			targets := []target{c.syncer, c.dns}
			if c == c2 {
				targets = append(targets, frozen)
			}
			rep := ev.run(t, of(healthy, targets...))
			rep.expectParsed(t)
			rep.expectSeries(t, c.ID+" healthy", nil, rep.alertNames()...)
			for _, r := range rep.Rules {
				if r.State != "inactive" {
					t.Errorf("%s: %s is %s in the healthy state, want inactive", c.ID, r.Alert, r.State)
				}
			}
		}
	})

	// Refused input: a malformed member kubeconfig and an unreachable one, an export from a
	// denied namespace, one beyond the endpoint limit, one with an endpoint in the targets'
	// Service ranges, one into
	// a namespace only cluster-1 has, one whose derived Service cluster-1's quota forbids, and
	// one that cluster-1 exports as a ClusterSetIP Service and cluster-2 as a headless one.
	writeFile(t, filepath.Join(st.MembersDir, "malformed.kubeconfig"), "this is not a kubeconfig: [")
	writeUnreachableKubeconfig(t, c1, filepath.Join(st.MembersDir, "unreachable.kubeconfig"))
	c1.export(ctx, t, "kube-system", "kube-dns")
	c1.serve(ctx, t, ns, "big", "10.201.1.1", "10.201.1.2", "10.201.1.3", "10.201.1.4", "10.201.1.5", "10.201.1.6")
	c1.export(ctx, t, ns, "big")
	// The apiserver refuses loopback endpoints; an address in a target's Service range it takes.
	c1.serve(ctx, t, ns, "in-service-range", "10.201.2.1", "10.100.0.50", "10.101.0.50", "10.102.0.50", "10.103.0.50")
	c1.export(ctx, t, ns, "in-service-range")
	c1.namespace(ctx, t, "mcs-alerts-c1")
	c1.serve(ctx, t, "mcs-alerts-c1", "lonely", "10.201.3.1")
	c1.export(ctx, t, "mcs-alerts-c1", "lonely")
	for _, c := range m {
		c.namespace(ctx, t, "mcs-alerts-quota")
	}
	c1.serve(ctx, t, "mcs-alerts-quota", "blocked", "10.201.4.1")
	c1.forbidServices(ctx, t, "mcs-alerts-quota") // after the exported Service, before the derived one
	c1.export(ctx, t, "mcs-alerts-quota", "blocked")
	c1.serve(ctx, t, ns, "clash", "10.201.6.1")
	c1.export(ctx, t, ns, "clash")
	c2.serveSpec(ctx, t, ns, "clash", corev1.ClusterIPNone, "10.202.6.1")
	c2.export(ctx, t, ns, "clash")
	for _, name := range []string{
		"clusterset_syncer_members_refused_total", "clusterset_syncer_exports_refused_total",
		"clusterset_syncer_export_endpoints_limited_total", "clusterset_syncer_endpoints_dropped_total",
		"clusterset_syncer_imports_skipped_total", exportCondition("cluster-2", ns, "clash", "Conflict", "True"),
	} {
		awaitMetric(t, c2.syncer, name, func(v float64) bool { return v > 0 })
	}
	awaitMetric(t, c1.syncer, exportCondition("cluster-1", "mcs-alerts-quota", "blocked", "Ready", "False"), func(v float64) bool { return v == 1 })
	awaitMetric(t, c2.syncer, "clusterset_syncer_members_undecided", func(v float64) bool { return v > 0 })
	refused := scrapeRounds(t, 4, c1.syncer, c1.dns, c2.syncer, c2.dns)
	all = append(all, refused...)
	t.Run("refused input raises the refusal, skip, drop and error alerts", func(t *testing.T) {
		rep := ev.run(t, of(refused, c2.syncer, c2.dns))
		rep.expectSeries(t, "cluster-2", map[string]bool{
			memberRefused: true, membersUndecided: true, exportsRefused: true, endpointsLimited: true,
			endpointsDropped: true, importsSkipped: true, exportConflict: true,
		}, memberRefused, membersUndecided, exportsRefused, endpointsLimited, endpointsDropped, importsSkipped,
			exportConflict, reconcileErrors, writeErrors, exportNotReady, memberStale, syncerDown, notReconciling,
			dnsIndexStale, dnsNoIndex)
		rep.expectLabels(t, importsSkipped, map[string]string{"cluster": "cluster-2", "reason": "NamespaceMissing"})
		rep.expectLabels(t, endpointsDropped, map[string]string{"cluster": "cluster-1", "reason": "ServiceCIDR"})
		rep.expectLabels(t, exportsRefused, map[string]string{"cluster": "cluster-1", "reason": "NamespaceNotAllowed"})
		rep.expectLabels(t, memberRefused, map[string]string{"reason": "Malformed"})
		rep.expectLabels(t, exportConflict, map[string]string{"cluster": "cluster-2", "name": "clash"})
		// cluster-1 has every namespace, so it skips nothing; its quota fails the writes of
		// "blocked", whose export is then not Ready. The refused export in kube-system is not
		// Ready either, but is reported as refused, not as not Ready.
		rep = ev.run(t, of(refused, c1.syncer, c1.dns))
		rep.expectSeries(t, "cluster-1", map[string]bool{
			memberRefused: true, exportsRefused: true, endpointsDropped: true, reconcileErrors: true,
			writeErrors: true, exportNotReady: true, exportConflict: true,
		}, memberRefused, exportsRefused, endpointsDropped, importsSkipped, reconcileErrors, writeErrors,
			exportNotReady, exportConflict)
		rep.expectLabels(t, writeErrors, map[string]string{"cluster": "cluster-1", "kind": "Service"})
		rep.expectLabels(t, exportNotReady, map[string]string{"cluster": "cluster-1", "namespace": "mcs-alerts-quota", "name": "blocked"})
		if n := len(rep.rule(t, exportNotReady).Series); n != 1 {
			t.Errorf("%s returns %d series, want only the blocked export's", exportNotReady, n)
		}
	})

	t.Run("the refusal alerts clear 15 minutes after the last refusal", func(t *testing.T) {
		// The last real scrape, replayed every minute: the series are new for 15 minutes, then
		// old and unchanged.
		start := time.Now().Add(time.Hour).Truncate(time.Minute)
		from := of(refused, c2.syncer)[len(of(refused, c2.syncer))-1]
		counters := []string{memberRefused, exportsRefused, endpointsLimited, endpointsDropped, importsSkipped}
		rep := ev.run(t, replay(from, start, time.Minute, 10))
		want := map[string]bool{}
		for _, a := range counters {
			want[a] = true
		}
		rep.expectSeries(t, "cluster-2, 10 minutes", want, counters...)
		rep = ev.run(t, replay(from, start, time.Minute, 20))
		rep.expectSeries(t, "cluster-2, 20 minutes", nil, counters...)
	})

	// Stale member: cluster-3's apiserver stopped (SIGSTOP) until the others withdraw it.
	resumeAPIServer := proc.Freeze(t, "cluster-3 apiserver", c3.APIServerPID())
	awaitMetric(t, c1.syncer, `clusterset_syncer_member_stale{member="cluster-3"}`, func(v float64) bool { return v == 1 })
	stale := scrapeRounds(t, 3, c1.syncer, c1.dns, c3.syncer, c3.dns)
	all = append(all, stale...)
	t.Run("a stopped apiserver makes its member stale", func(t *testing.T) {
		rep := ev.run(t, of(stale, c1.syncer, c1.dns))
		rep.expectSeries(t, "cluster-1", map[string]bool{memberStale: true, apiRequestsFailing: true},
			memberStale, apiRequestsFailing, syncerDown, notReconciling)
		rep.expectLabels(t, memberStale, map[string]string{"instance": c1.syncer.instance, "member": "cluster-3"})
		rep.expectLabels(t, apiRequestsFailing, map[string]string{"cluster": "cluster-3"})
	})
	t.Run("for: the stale-member alert is pending, then firing after its 1m", func(t *testing.T) {
		// The last real scrape of each state, replayed every 30 s from a fixed start, through
		// Prometheus's alerting rule code.
		start := time.Now().Add(time.Hour).Truncate(time.Minute)
		last := func(s []scraped, tg target) scraped { return of(s, tg)[len(of(s, tg))-1] }
		for _, tc := range []struct {
			state string
			from  scraped
			steps int
			want  string
		}{
			{"stale, 30s", last(stale, c1.syncer), 2, "pending"},
			{"stale, 2m", last(stale, c1.syncer), 5, "firing"},
			{"healthy, 2m", last(healthy, c1.syncer), 5, "inactive"},
		} {
			rep := ev.run(t, replay(tc.from, start, 30*time.Second, tc.steps))
			if got := rep.rule(t, memberStale).State; got != tc.want {
				t.Errorf("%s: %s is %s, want %s", tc.state, memberStale, got, tc.want)
			}
		}
	})

	// Syncer down: cluster-3's syncer stopped (SIGSTOP): its scrapes fail.
	resumeSyncer := proc.Freeze(t, "cluster-3 syncer", st.Syncers[2].Proc.PID())
	down := append(of(stale, c3.syncer, c3.dns), scrapeRounds(t, 3, c3.syncer, c3.dns)...)
	t.Run("a stopped syncer is down and nothing reconciles", func(t *testing.T) {
		rep := ev.run(t, down)
		rep.expectSeries(t, "cluster-3", map[string]bool{syncerDown: true, notReconciling: true}, syncerDown, notReconciling)
	})
	resumeSyncer()
	resumeAPIServer()

	// Stale DNS index: the proxy of cluster-2's second CoreDNS freezes; two minutes later a new
	// export is imported into cluster-2, which its first CoreDNS follows and the frozen one
	// cannot.
	link.freeze()
	builtAt := time.Now().Add(-time.Duration(metricValue(t, frozen, "coredns_clusterset_snapshot_age_seconds") * float64(time.Second)))
	var dnsStale []scraped
	for time.Since(builtAt) < 130*time.Second {
		dnsStale = append(dnsStale, scrapeRounds(t, 1, c2.syncer, c2.dns, frozen)...)
		time.Sleep(2 * scrapeGap)
	}
	imports := metricValue(t, c2.dns, "coredns_clusterset_imports")
	c1.serve(ctx, t, ns, "late", "10.201.5.1")
	c1.export(ctx, t, ns, "late")
	awaitMetric(t, c2.dns, "coredns_clusterset_imports", func(v float64) bool { return v > imports })
	for end := time.Now().Add(70 * time.Second); time.Now().Before(end); time.Sleep(2 * scrapeGap) {
		dnsStale = append(dnsStale, scrapeRounds(t, 1, c2.syncer, c2.dns, frozen)...)
	}
	all = append(all, dnsStale...)
	t.Run("a CoreDNS cut from its apiserver serves a stale index", func(t *testing.T) {
		rep := ev.run(t, of(dnsStale, c2.syncer, frozen))
		rep.expectSeries(t, "cluster-2, frozen CoreDNS", map[string]bool{dnsIndexStale: true}, dnsIndexStale, dnsNoIndex)
		rep.expectLabels(t, dnsIndexStale, map[string]string{"instance": frozen.instance})
		rep = ev.run(t, of(dnsStale, c2.syncer, c2.dns))
		rep.expectSeries(t, "cluster-2, CoreDNS following", nil, dnsIndexStale, dnsNoIndex)
	})

	t.Run("every metric of every rule and dashboard query was scraped", func(t *testing.T) {
		rep := ev.run(t, all, "-dashboard", ev.dashboard)
		rep.expectParsed(t)
		for _, r := range rep.Rules {
			for name, seen := range r.Metrics {
				if !seen {
					t.Errorf("rule %s reads %s, which no scrape had", r.Alert, name)
				}
			}
		}
		if len(rep.Dashboard) == 0 {
			t.Fatal("no dashboard query checked")
		}
		for _, q := range rep.Dashboard {
			if len(q.Metrics) == 0 {
				t.Errorf("dashboard panel %q: query %s selects no metric", q.Title, q.Expr)
			}
			for name, seen := range q.Metrics {
				if !seen {
					t.Errorf("dashboard panel %q reads %s, which no scrape had", q.Title, name)
				}
			}
		}
	})
}

// namespace creates a namespace unless it exists.
func (c *member) namespace(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	_, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// serve creates a Service without selector and one EndpointSlice of ready endpoints, as an
// endpoint controller other than Kubernetes's own publishes them.
func (c *member) serve(ctx context.Context, t *testing.T, namespace, name string, ips ...string) {
	t.Helper()
	c.serveSpec(ctx, t, namespace, name, "", ips...)
}

// serveSpec is serve with the Service's spec.clusterIP ("None": headless).
func (c *member) serveSpec(ctx context.Context, t *testing.T, namespace, name, clusterIP string, ips ...string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if _, err := c.kube.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready, port, proto, portName := true, int32(80), corev1.ProtocolTCP, "http"
	slice := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-e2e", Namespace: namespace, Labels: map[string]string{
			discovery.LabelServiceName: name, discovery.LabelManagedBy: "e2e.alerts",
		}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	for _, ip := range ips {
		slice.Endpoints = append(slice.Endpoints, discovery.Endpoint{Addresses: []string{ip}, Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	if _, err := c.kube.DiscoveryV1().EndpointSlices(namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (c *member) export(ctx context.Context, t *testing.T, namespace, name string) {
	t.Helper()
	se := &mcs.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if _, err := c.mcs.MulticlusterV1alpha1().ServiceExports(namespace).Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// forbidServices sets a quota of no Services in the namespace: the syncer's derived Service is
// refused there, and every reconcile of a service exported into it fails.
func (c *member) forbidServices(ctx context.Context, t *testing.T, namespace string) {
	t.Helper()
	q := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-services", Namespace: namespace},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("0")}},
	}
	q, err := c.kube.CoreV1().ResourceQuotas(namespace).Create(ctx, q, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Admission enforces what the status says, which the quota controller (not run here) fills.
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{corev1.ResourceServices: resource.MustParse("0")}}
	if _, err := c.kube.CoreV1().ResourceQuotas(namespace).UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeUnreachableKubeconfig writes c's kubeconfig with a server nobody listens on: a member
// that is configured but never identified.
func writeUnreachableKubeconfig(t *testing.T, c *member, path string) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://127.0.0.1:1"
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

// startDNSThrough runs a CoreDNS with the clusterset plugin and metrics for c whose apiserver
// connection goes through server (host:port).
func startDNSThrough(ctx context.Context, t *testing.T, c *member, server string) target {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cl := range cfg.Clusters {
		cl.Server = "https://" + server
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	bin, err := bindir.Dir()
	if err != nil {
		t.Fatal(err)
	}
	d, err := stack.StartDNS(ctx, stack.DNSOptions{
		Cluster: c.Cluster, BinDir: bin, Dir: dir, Bind: "127.0.0.30", Kubeconfig: kubeconfig, Metrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Proc.Stop(5 * time.Second) })
	return target{job: "coredns", instance: c.ID + "/coredns-through-proxy", url: d.Metrics}
}

// exportCondition selects the condition gauge of one export.
func exportCondition(cluster, namespace, name, condition, status string) string {
	return fmt.Sprintf(`clusterset_syncer_serviceexport_condition{cluster=%q,condition=%q,name=%q,namespace=%q,status=%q}`,
		cluster, condition, name, namespace, status)
}

// of returns the scrapes of the given targets, in order.
func of(s []scraped, targets ...target) []scraped {
	return slices.DeleteFunc(slices.Clone(s), func(x scraped) bool { return !slices.Contains(targets, x.target) })
}
