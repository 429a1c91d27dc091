package syncer

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/controller"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/proc"
)

// TestFaults: pull-mode syncers under partial views (a member blackholed, killed, or with
// an expired Lease) and hostile member data (system namespaces, a flood of exports). Every
// case asserts that no import, derived Service or VIP of a service still exported is lost
// or changed, and that the clusterset converges afterwards.
func TestFaults(t *testing.T) {
	s := newSuite(t, app.ModePull, false)
	t.Run("BlackholedExporterWhileSyncerRestarts", func(t *testing.T) { s.faultSoleExporter(t, "blackhole", s.faultBlackhole) })
	t.Run("KilledExporterWhileSyncerRestarts", func(t *testing.T) { s.faultSoleExporter(t, "killed", s.faultKill) })
	t.Run("ExpiredLease", s.faultExpiredLease)
	t.Run("NamespacePolicy", s.faultNamespacePolicy)
	t.Run("ExportFlood", s.faultExportFlood)
}

// TestFaultsHub: the hub syncer with one member blackholed keeps importing among the others.
func TestFaultsHub(t *testing.T) {
	s := newSuite(t, app.ModeHub, false)
	t.Run("BlackholedMember", s.faultHubBlackholed)
}

// faultBlackhole stops cluster id's apiserver with SIGSTOP: its connections stay open and
// nothing answers. The returned resume (SIGCONT) may be called more than once.
func (s *suite) faultBlackhole(t *testing.T, id string) func() {
	return proc.Freeze(t, id+" apiserver", s.cluster(id).APIServerPID())
}

// faultKill stops cluster id's apiserver; resume starts it again on the same port.
func (s *suite) faultKill(t *testing.T, id string) func() {
	c := s.cluster(id)
	if err := c.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	resume := sync.OnceFunc(func() {
		if err := c.StartAPIServer(context.Background()); err != nil {
			t.Errorf("restart %s: %v", id, err)
		}
	})
	t.Cleanup(resume)
	return resume
}

// faultExport creates a ClusterIP Service with one slice of eps and exports it.
func (s *suite) faultExport(t *testing.T, c *harness.Cluster, ns, name string, affinity corev1.ServiceAffinity, eps []endpoint, ports ...corev1.ServicePort) {
	t.Helper()
	svc := service(ns, name, corev1.ServiceTypeClusterIP, ports...)
	svc.Spec.SessionAffinity = affinity
	s.createService(t, c, svc)
	var slicePorts []discoveryv1.EndpointPort
	for _, p := range ports {
		slicePorts = append(slicePorts, slicePort(p.Name, 8000+p.Port))
	}
	if len(eps) > 0 {
		s.createSlice(t, c, ns, name, name+"-src", discoveryv1.AddressTypeIPv4, slicePorts, eps)
	}
	s.export(t, c, ns, name)
}

// faultSoleExporter: cluster-3 is the only exporter of "solo" and the oldest exporter (the
// merge winner: ClientIP affinity, an extra port) of "shared", also exported by cluster-1.
// cluster-3 fails (pause) and cluster-2's syncer restarts meanwhile, so that it has never
// seen cluster-3. For 20 s the imports, derived Services and VIPs stay as they were in
// cluster-1 and cluster-2, and only cluster-3's endpoints leave (after the TTL); once
// cluster-3 is back, its endpoints return everywhere.
func (s *suite) faultSoleExporter(t *testing.T, ns string, pause func(*testing.T, string) func()) {
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	soloEps, c3Eps, c1Eps := ips("10.130", 2), ips("10.131", 2), ips("10.132", 2)
	s.faultExport(t, c3, ns, "solo", corev1.ServiceAffinityNone, soloEps, port("http", 80))
	s.faultExport(t, c3, ns, "shared", corev1.ServiceAffinityClientIP, c3Eps, port("http", 80), port("metrics", 81))
	time.Sleep(1100 * time.Millisecond) // creationTimestamps have a resolution of a second
	s.faultExport(t, c1, ns, "shared", corev1.ServiceAffinityNone, c1Eps, port("http", 80))
	solo := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": addresses(soloEps)}}
	shared := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80", "metrics/TCP/81"},
		clusters: []string{"cluster-1", "cluster-3"}, eps: map[string][]string{"cluster-1": addresses(c1Eps), "cluster-3": addresses(c3Eps)}}
	converged := func(c *harness.Cluster) error {
		return cmp.Or(s.checkImport(c, ns, "solo", solo), s.checkImport(c, ns, "shared", shared))
	}
	eventually(t, "imported everywhere", func() error { return s.inAll(converged) })
	observers := []*harness.Cluster{c1, c2}
	for _, c := range observers {
		if st, _ := s.importStateOf(c, ns, "shared"); !strings.Contains(st.spec, string(corev1.ServiceAffinityClientIP)) {
			t.Fatalf("%s: shared does not carry the oldest export's affinity: %v", c.ID, st)
		}
	}
	stop := s.watchImports(t, ns, []string{"solo", "shared"}, observers, importState.equal)

	faulted := time.Now()
	resume := pause(t, c3.ID)
	s.stopSyncer(t, c2.ID)
	s.startSyncer(t, c2)
	// Only cluster-3's endpoints leave, after the TTL.
	soloWithdrawn, sharedWithdrawn := solo, shared
	soloWithdrawn.eps = map[string][]string{}
	sharedWithdrawn.eps = map[string][]string{"cluster-1": addresses(c1Eps)}
	for _, c := range observers {
		eventually(t, c.ID+": cluster-3's endpoints withdrawn", func() error {
			return cmp.Or(s.checkImport(c, ns, "solo", soloWithdrawn), s.checkImport(c, ns, "shared", sharedWithdrawn))
		})
	}
	t.Logf("cluster-3's endpoints withdrawn from cluster-1 and cluster-2 %v after the fault (TTL %v)", time.Since(faulted).Round(100*time.Millisecond), ttl)
	time.Sleep(time.Until(faulted.Add(20 * time.Second)))
	for _, c := range observers {
		if err := cmp.Or(s.checkImport(c, ns, "solo", soloWithdrawn), s.checkImport(c, ns, "shared", sharedWithdrawn)); err != nil {
			t.Errorf("%s, 20 s after the fault: %v", c.ID, err)
		}
	}

	resumed := time.Now()
	resume()
	eventually(t, "cluster-3's endpoints back everywhere", func() error { return s.inAll(converged) })
	converge := time.Since(resumed)
	problems, samples := stop()
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("FAULT %s: converged %v after cluster-3 returned; %d imports/derived Services/VIPs lost or changed in %d samples of 2 services in 2 clusters",
		ns, converge.Round(100*time.Millisecond), len(problems), samples)
}

// faultExpiredLease: cluster-3's syncer stops, so its heartbeat Lease expires while its
// apiserver still answers. The other clusters withdraw its endpoints after the TTL and keep
// the import, derived Service and VIP of the service only cluster-3 exports.
func (s *suite) faultExpiredLease(t *testing.T) {
	const ns = "faultlease"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	eps := ips("10.133", 2)
	s.faultExport(t, c3, ns, "solo", corev1.ServiceAffinityNone, eps, port("http", 80))
	solo := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": addresses(eps)}}
	eventually(t, "imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "solo", solo) })
	})
	observers := []*harness.Cluster{c1, c2}
	stop := s.watchImports(t, ns, []string{"solo"}, observers, importState.equal)
	stopped := time.Now()
	s.stopSyncer(t, c3.ID)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			s.startSyncer(t, c3)
		}
	})
	withdrawn := solo
	withdrawn.eps = map[string][]string{}
	for _, c := range observers {
		eventually(t, c.ID+": endpoints withdrawn", func() error { return s.checkImport(c, ns, "solo", withdrawn) })
	}
	t.Logf("endpoints withdrawn %v after cluster-3's syncer stopped (TTL %v)", time.Since(stopped).Round(100*time.Millisecond), ttl)
	time.Sleep(time.Until(stopped.Add(3 * ttl)))
	restarted = true
	s.startSyncer(t, c3)
	back := time.Now()
	eventually(t, "endpoints back everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "solo", solo) })
	})
	converge := time.Since(back)
	problems, samples := stop()
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("FAULT lease: converged %v after the syncer returned; %d lost or changed in %d samples", converge.Round(100*time.Millisecond), len(problems), samples)
}

// faultCounter reads a counter of a syncer's metrics with the given labels.
func faultCounter(sy *harness.InProcess, name string, labels map[string]string) float64 {
	families, _ := sy.Metrics.Registry.Gather()
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// faultNamespacePolicy: exports in kube-system and in the syncers' own namespace are
// refused (Valid=False NamespaceNotAllowed in the exporting cluster, a Warning Event there,
// the metric in every syncer) and imported nowhere; an export next to them flows.
func (s *suite) faultNamespacePolicy(t *testing.T) {
	const ns = "faultns"
	s.namespace(t, ns)
	c1 := s.cluster("cluster-1")
	refusedKeys := [][2]string{{metav1.NamespaceSystem, "leak"}, {harness.SyncerNamespace, "own"}}
	for _, k := range refusedKeys {
		s.faultExport(t, c1, k[0], k[1], corev1.ServiceAffinityNone, ips("10.134", 1), port("http", 80))
	}
	s.faultExport(t, c1, ns, "fine", corev1.ServiceAffinityNone, ips("10.135", 1), port("http", 80))
	fine := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.135", 1))}}
	eventually(t, "the allowed export imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "fine", fine) })
	})
	eventually(t, "refused exports Valid=False", func() error {
		for _, k := range refusedKeys {
			if err := s.checkConditions(c1, k[0], k[1], "Valid=False/"+policy.ReasonNamespaceNotAllowed, "Ready=False/Failed"); err != nil {
				return err
			}
		}
		return nil
	})
	eventually(t, "a Warning Event on each refused export", func() error {
		for _, k := range refusedKeys {
			list, err := c1.Kube.CoreV1().Events(k[0]).List(s.ctx, metav1.ListOptions{FieldSelector: fields.Set{
				"involvedObject.name": k[1], "involvedObject.kind": "ServiceExport", "reason": policy.ReasonNamespaceNotAllowed}.String()})
			if err != nil {
				return err
			}
			if len(list.Items) == 0 || list.Items[0].Type != corev1.EventTypeWarning {
				return fmt.Errorf("no Warning Event on %s/%s: %v", k[0], k[1], list.Items)
			}
		}
		return nil
	})
	for id, sy := range s.syncers {
		got := faultCounter(sy, metrics.Namespace+"_exports_refused_total", map[string]string{"cluster": "cluster-1", "reason": policy.ReasonNamespaceNotAllowed})
		if got != float64(len(refusedKeys)) {
			t.Errorf("syncer in %s counted %v refused exports, want %d", id, got, len(refusedKeys))
		}
	}
	for _, k := range refusedKeys {
		if err := s.inAll(func(c *harness.Cluster) error { return s.checkGone(c, k[0], k[1]) }); err != nil {
			t.Error(err)
		}
	}
}

// faultLatencies are export latencies by destination cluster.
type faultLatencies map[string][]time.Duration

// faultLatency exports names from c (one endpoint each) and returns, per destination
// cluster of to, the time from each export's creation until it is imported there with its
// endpoint. Every name and destination is polled in each round, so one slow destination
// does not inflate another's numbers.
func (s *suite) faultLatency(t *testing.T, c *harness.Cluster, ns string, names []string, prefix string, to []*harness.Cluster) faultLatencies {
	t.Helper()
	created := map[string]time.Time{}
	for i, n := range names {
		created[n] = time.Now()
		s.faultExport(t, c, ns, n, corev1.ServiceAffinityNone, []endpoint{{ip: fmt.Sprintf("%s.%d", prefix, i+1)}}, port("http", 80))
	}
	out := faultLatencies{}
	seen := map[string]bool{}
	eventually(t, "exports imported", func() error {
		var missing []string
		for i, n := range names {
			want := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{c.ID},
				eps: map[string][]string{c.ID: {fmt.Sprintf("%s.%d", prefix, i+1)}}}
			for _, d := range to {
				if seen[n+"/"+d.ID] {
					continue
				}
				if err := s.checkImport(d, ns, n, want); err != nil {
					missing = append(missing, d.ID+": "+err.Error())
					continue
				}
				seen[n+"/"+d.ID] = true
				out[d.ID] = append(out[d.ID], time.Since(created[n]))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d not imported yet, e.g. %s", len(missing), missing[0])
		}
		return nil
	})
	return out
}

// add joins other's latencies into l.
func (l faultLatencies) add(other faultLatencies) {
	for id, d := range other {
		l[id] = append(l[id], d...)
	}
}

// String renders min/median/max per destination cluster.
func (l faultLatencies) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Millisecond) }
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(l)) {
		d := slices.Sorted(slices.Values(l[id]))
		parts = append(parts, fmt.Sprintf("into %s n=%d min %v median %v max %v", id, len(d), r(d[0]), r(d[len(d)/2]), r(d[len(d)-1])))
	}
	return strings.Join(parts, ", ")
}

// faultExportFlood: with --max-exports-per-member=50, cluster-1 creates 1,000 exports at
// once. Exactly its 50 oldest are imported into the other clusters, the rest are
// Valid=False ExportLimitExceeded, and cluster-2's exports keep flowing meanwhile.
func (s *suite) faultExportFlood(t *testing.T) {
	const ns, limit, flood = "flood", 50, 1000
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	for _, c := range s.syncerClusters() {
		s.stopSyncer(t, c.ID)
		o := s.options(c)
		o.MaxExportsPerMember = limit
		s.syncers[c.ID] = harness.StartInProcess(s.ctx, o)
	}
	others := []*harness.Cluster{c1, c3}
	baseline := s.faultLatency(t, c2, ns, []string{"base-0", "base-1", "base-2", "base-3", "base-4"}, "10.136.0", others)

	names := harness.DistinctNames("f", flood)
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, flood)
	floodStart := time.Now()
	for range 16 {
		wg.Go(func() {
			for n := range work {
				_, err := c1.Kube.CoreV1().Services(ns).Create(s.ctx, service(ns, n, corev1.ServiceTypeClusterIP, port("http", 80)), metav1.CreateOptions{})
				if err == nil {
					_, err = c1.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(s.ctx,
						&mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: n}}, metav1.CreateOptions{})
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	go func() {
		for _, n := range names {
			work <- n
		}
		close(work)
	}()
	time.Sleep(2 * time.Second) // the flood is under way
	during := s.faultLatency(t, c2, ns, []string{"during-0", "during-1", "during-2", "during-3", "during-4"}, "10.137.0", others)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("flood of %d exports created in %v", flood, time.Since(floodStart).Round(100*time.Millisecond))

	// The member's oldest exports, by creationTimestamp and then namespace/name, are the
	// admitted ones; those of earlier cases (in namespaces not denied) count too.
	list, err := c1.MCS.MulticlusterV1alpha1().ServiceExports(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list.Items = slices.DeleteFunc(list.Items, func(se mcsv1alpha1.ServiceExport) bool {
		return se.Namespace == metav1.NamespaceSystem || se.Namespace == harness.SyncerNamespace
	})
	slices.SortFunc(list.Items, func(a, b mcsv1alpha1.ServiceExport) int {
		return cmp.Or(a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	var want []string
	for _, se := range list.Items[:limit] {
		if se.Namespace == ns {
			want = append(want, se.Name)
		}
	}
	slices.Sort(want)
	t.Logf("cluster-1 has %d older exports elsewhere; %d of the flood are admitted", limit-len(want), len(want))
	importsFrom1 := func(c *harness.Cluster) ([]string, error) {
		imports, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		var got []string
		for _, si := range imports.Items {
			if len(si.Status.Clusters) == 1 && si.Status.Clusters[0].Cluster == c1.ID {
				got = append(got, si.Name)
			}
		}
		slices.Sort(got)
		return got, nil
	}
	settled := time.Now()
	eventually(t, "exactly the oldest exports imported", func() error {
		for _, c := range []*harness.Cluster{c2, c3} {
			got, err := importsFrom1(c)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("%s: %d imports from cluster-1, want %d", c.ID, len(got), len(want))
			}
		}
		return nil
	})
	t.Logf("the %d admitted imports settled %v after the flood was created", len(want), time.Since(settled).Round(100*time.Millisecond))
	admitted := map[string]bool{}
	for _, n := range want {
		admitted[n] = true
	}
	eventually(t, "the refused exports Valid=False", func() error {
		exports, err := c1.MCS.MulticlusterV1alpha1().ServiceExports(ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		refused := 0
		for _, se := range exports.Items {
			for _, cond := range se.Status.Conditions {
				if cond.Type == string(mcsv1alpha1.ServiceExportConditionValid) && cond.Reason == policy.ReasonExportLimitExceeded {
					if admitted[se.Name] {
						return fmt.Errorf("admitted export %s is marked refused", se.Name)
					}
					refused++
				}
			}
		}
		if refused != flood-len(want) {
			return fmt.Errorf("%d exports Valid=False %s, want %d", refused, policy.ReasonExportLimitExceeded, flood-len(want))
		}
		return nil
	})
	for id, sy := range s.syncers {
		if got := faultCounter(sy, metrics.Namespace+"_exports_refused_total", map[string]string{"cluster": c1.ID, "reason": policy.ReasonExportLimitExceeded}); got < float64(flood-len(want)) {
			t.Errorf("syncer in %s counted %v exports refused for the limit, want at least %d", id, got, flood-len(want))
		}
	}
	// No export of another member was lost.
	for _, n := range []string{"base-0", "during-4"} {
		if err := s.inAll(func(c *harness.Cluster) error {
			_, err := s.importStateOf(c, ns, n)
			return err
		}); err != nil {
			t.Error(err)
		}
	}
	t.Logf("LATENCY cluster-2's exports: before the flood %v; during it %v", baseline, during)
}

// faultHubBlackholed: the hub writes into all three clusters; cluster-3's apiserver is
// blackholed. Exports among cluster-1 and cluster-2 still converge with their usual
// latency, what was imported stays, and cluster-3 catches up after SIGCONT.
func (s *suite) faultHubBlackholed(t *testing.T) {
	const ns = "hubfault"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	healthy := []*harness.Cluster{c1, c2}
	baseline := s.faultLatency(t, c2, ns, []string{"base-0", "base-1", "base-2", "base-3", "base-4"}, "10.138.0", healthy)
	s.faultExport(t, c3, ns, "from3", corev1.ServiceAffinityNone, ips("10.139", 1), port("http", 80))
	from3 := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": addresses(ips("10.139", 1))}}
	eventually(t, "cluster-3's export imported", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "from3", from3) })
	})
	stop := s.watchImports(t, ns, []string{"base-0", "from3"}, healthy, importState.equal)

	resume := s.faultBlackhole(t, c3.ID)
	// Past the TTL and the per-target timeout: cluster-3 is stale and writes into it have
	// timed out at least once. Then both healthy members export while it still hangs.
	time.Sleep(controller.DefaultTargetTimeout + 2*time.Second)
	during := s.faultLatency(t, c2, ns, []string{"during-0", "during-1", "during-2", "during-3", "during-4"}, "10.140.0", healthy)
	during.add(s.faultLatency(t, c1, ns, []string{"during-5", "during-6", "during-7"}, "10.141.0", healthy))
	resumed := time.Now()
	resume()
	eventually(t, "cluster-3 caught up", func() error {
		for i := range 5 {
			n := fmt.Sprintf("during-%d", i)
			if err := s.checkImport(c3, ns, n, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-2"},
				eps: map[string][]string{"cluster-2": {fmt.Sprintf("10.140.0.%d", i+1)}}}); err != nil {
				return err
			}
		}
		return s.checkImport(c3, ns, "from3", from3)
	})
	converge := time.Since(resumed)
	problems, samples := stop()
	for _, p := range problems {
		t.Error(p)
	}
	after := s.faultLatency(t, c2, ns, []string{"after-0", "after-1", "after-2", "after-3", "after-4"}, "10.142.0", healthy)
	t.Logf("FAULT hub blackhole: cluster-3 converged %v after SIGCONT; %d lost or changed in %d samples", converge.Round(100*time.Millisecond), len(problems), samples)
	t.Logf("LATENCY hub, exports among cluster-1 and cluster-2: before %v; cluster-3 blackholed %v; after %v",
		baseline, during, after)
}
