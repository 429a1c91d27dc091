package syncer

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
)

// testPodsThroughControllerManager: source slices made by kube-controller-manager from Pods
// made ready, mirrored with their targetRefs; a new ready Pod follows.
func (s *suite) testPodsThroughControllerManager(t *testing.T) {
	const ns, name = "pods", "echo"
	s.namespace(t, ns)
	c3 := s.cluster("cluster-3")
	// Pods need their ServiceAccount; localenv runs no ServiceAccount controller.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "default"}}
	if _, err := c3.Kube.CoreV1().ServiceAccounts(ns).Create(s.ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	svc := service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80))
	svc.Spec.Selector = map[string]string{"app": name}
	s.createService(t, c3, svc)
	s.export(t, c3, ns, name)
	var podIPs []string
	addPod := func(i int) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("echo-%d", i), Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "echo",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		}
		if _, err := c3.Kube.CoreV1().Pods(ns).Create(s.ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ip := fmt.Sprintf("10.80.0.%d", i+1)
		if err := c3.MakePodReady(s.ctx, ns, pod.Name, ip); err != nil {
			t.Fatal(err)
		}
		podIPs = append(podIPs, ip)
		slices.Sort(podIPs)
	}
	check := func(c *harness.Cluster) error {
		if err := s.checkImport(c, ns, name, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
			clusters: []string{"cluster-3"}, eps: map[string][]string{"cluster-3": podIPs}}); err != nil {
			return err
		}
		list, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName + "=" + name})
		if err != nil {
			return err
		}
		// The Pods' targetRefs (and nodeNames) are kept only in their own cluster.
		for _, sl := range list.Items {
			for _, ep := range sl.Endpoints {
				local := c == c3
				if local && (ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" || !strings.HasPrefix(ep.TargetRef.Name, "echo-")) ||
					!local && (ep.TargetRef != nil || ep.NodeName != nil) {
					return fmt.Errorf("endpoint %v has targetRef %+v nodeName %v", ep.Addresses, ep.TargetRef, ptr.Deref(ep.NodeName, ""))
				}
			}
		}
		return nil
	}
	for i := range 3 {
		addPod(i)
	}
	eventually(t, "pods mirrored everywhere", func() error { return s.inAll(check) })
	addPod(3)
	eventually(t, "a new ready pod mirrored everywhere", func() error { return s.inAll(check) })
}

// testResyncMakesNoWrites: periodic resyncs, and syncers restarted over converged clusters,
// make no API write at all.
func (s *suite) testResyncMakesNoWrites(t *testing.T) {
	keys := s.exportedKeys(t)
	settle := func(what string) {
		eventually(t, what, func() error {
			for id, sy := range s.syncers {
				if d := sy.QueueDepth(); d != 0 {
					return fmt.Errorf("syncer in %s: queue depth %d", id, d)
				}
			}
			return nil
		})
	}
	settle("queues drained")
	before := map[string]float64{}
	startReconciles := map[string]uint64{}
	for id, sy := range s.syncers {
		before[id] = sy.Writes()
		startReconciles[id] = sy.Reconciles()
	}
	resyncStart := time.Now()
	eventually(t, "two resync periods", func() error {
		if since := time.Since(resyncStart); since < 2*resync {
			return fmt.Errorf("%v since the start", since)
		}
		for id, sy := range s.syncers {
			if n := sy.Reconciles() - startReconciles[id]; n < uint64(2*len(keys)) {
				return fmt.Errorf("syncer in %s: %d reconciles since, want %d", id, n, 2*len(keys))
			}
		}
		return nil
	})
	for id, sy := range s.syncers {
		if w := sy.Writes(); w != before[id] {
			t.Errorf("syncer in %s: %v writes during resyncs: %v", id, w-before[id], sy.WritesByLabels())
		}
	}

	// Fresh syncers over converged clusters: a cold start that finds everything in place.
	for _, c := range s.syncerClusters() {
		s.stopSyncer(t, c.ID)
		s.startSyncer(t, c)
	}
	eventually(t, "every key reconciled after the restart", func() error {
		for id, sy := range s.syncers {
			if n := sy.Reconciles(); n < uint64(len(keys)) || sy.QueueDepth() != 0 {
				return fmt.Errorf("syncer in %s: %d reconciles, queue depth %d, want %d reconciles", id, n, sy.QueueDepth(), len(keys))
			}
		}
		return nil
	})
	time.Sleep(time.Second) // let reconciles in flight finish: it can only reveal writes
	for id, sy := range s.syncers {
		if w := sy.Writes(); w != 0 {
			t.Errorf("restarted syncer in %s: %v writes: %v", id, w, sy.WritesByLabels())
		}
	}
}

// exportedKeys lists every exported service key of the clusterset.
func (s *suite) exportedKeys(t *testing.T) sets.Set[string] {
	keys := sets.New[string]()
	for _, c := range s.clusters {
		list, err := c.MCS.MulticlusterV1alpha1().ServiceExports(metav1.NamespaceAll).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, se := range list.Items {
			keys.Insert(se.Namespace + "/" + se.Name)
		}
	}
	return keys
}

// staleScenario exports ns/s from cluster-1 and cluster-3 and waits until both are imported.
func (s *suite) staleScenario(t *testing.T, ns string) (withBoth, without3 imported) {
	const name = "s"
	s.namespace(t, ns)
	for i, c := range []*harness.Cluster{s.cluster("cluster-1"), s.cluster("cluster-3")} {
		s.createService(t, c, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
		s.createSlice(t, c, ns, name, "s-x", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips(fmt.Sprintf("10.9%d", i), 2))
		s.export(t, c, ns, name)
	}
	withBoth = imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1", "cluster-3"},
		eps: map[string][]string{"cluster-1": addresses(ips("10.90", 2)), "cluster-3": addresses(ips("10.91", 2))}}
	without3 = withBoth
	without3.eps = map[string][]string{"cluster-1": addresses(ips("10.90", 2))}
	eventually(t, "import from both", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, name, withBoth) })
	})
	return withBoth, without3
}

// testUnreachableMember: stopping cluster-3's apiserver withdraws its endpoints from the
// other clusters after the TTL (the import stays); starting it again restores them.
func (s *suite) testUnreachableMember(t *testing.T) {
	const ns = "unreachable"
	withBoth, without3 := s.staleScenario(t, ns)
	c3 := s.cluster("cluster-3")
	stopped := time.Now()
	if err := c3.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Logf("apiserver stopped in %v", time.Since(stopped).Round(100*time.Millisecond))
	restarted := false
	restart := func() {
		if !restarted {
			restarted = true
			if err := c3.StartAPIServer(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer restart() // later scenarios need cluster-3
	others := []*harness.Cluster{s.cluster("cluster-1"), s.cluster("cluster-2")}
	eventually(t, "cluster-3's endpoints withdrawn", func() error {
		for _, c := range others {
			if err := s.checkImport(c, ns, "s", without3); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("withdrawn %v after the apiserver stopped (TTL %v)", time.Since(stopped).Round(100*time.Millisecond), ttl)
	restart()
	eventually(t, "cluster-3's endpoints restored", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "s", withBoth) })
	})
}

// testExpiredLease: a member whose syncer stops renewing its heartbeat Lease has its
// endpoints withdrawn after the TTL; they return with the syncer.
func (s *suite) testExpiredLease(t *testing.T) {
	const ns = "lease"
	withBoth, without3 := s.staleScenario(t, ns)
	c3 := s.cluster("cluster-3")
	s.stopSyncer(t, c3.ID)
	defer func() {
		if s.syncers[c3.ID] == nil {
			s.startSyncer(t, c3)
		}
	}()
	eventually(t, "cluster-3's endpoints withdrawn", func() error {
		for _, c := range []*harness.Cluster{s.cluster("cluster-1"), s.cluster("cluster-2")} {
			if err := s.checkImport(c, ns, "s", without3); err != nil {
				return err
			}
		}
		return nil
	})
	s.startSyncer(t, c3)
	eventually(t, "cluster-3's endpoints restored", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "s", withBoth) })
	})
}

// testKillMidSync: a syncer process killed with SIGKILL in the middle of importing a few
// hundred services, while some of them are unexported and others change, converges after a
// restart with no duplicates and no orphans.
func (s *suite) testKillMidSync(t *testing.T) {
	const ns, n, gone = "kill", 300, 60
	s.namespace(t, ns)
	c1 := s.cluster("cluster-1")
	// The syncer to kill: cluster-2's in pull mode, the hub in hub mode. It is watched
	// through cluster-2's imports either way.
	victim, watched := s.cluster("cluster-2"), s.cluster("cluster-2")
	if s.mode == app.ModeHub {
		victim = c1
	}
	built := time.Now()
	binary, err := harness.BuildSyncer(s.ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("syncer built in %v", time.Since(built).Round(100*time.Millisecond))
	s.stopSyncer(t, victim.ID)
	defer s.startSyncer(t, victim)

	names := harness.DistinctNames("svc", n)
	name := func(i int) string { return names[i] }
	endpointsOf := func(i, gen int) []endpoint {
		// 10.40-10.51: outside every localenv Service range, whose addresses are not mirrored.
		return []endpoint{{ip: fmt.Sprintf("10.%d.%d.1", 40+10*gen+i/200, i%200)}, {ip: fmt.Sprintf("10.%d.%d.2", 40+10*gen+i/200, i%200)}}
	}
	http := []discoveryv1.EndpointPort{slicePort("http", 8080)}
	for i := range n {
		s.createService(t, c1, service(ns, name(i), corev1.ServiceTypeClusterIP, port("http", 80)))
		s.createSlice(t, c1, ns, name(i), name(i)+"-a", discoveryv1.AddressTypeIPv4, http, endpointsOf(i, 0))
		s.export(t, c1, ns, name(i))
	}

	logs := t.TempDir()
	start := func(log string) *harness.Process {
		p, err := harness.StartProcess(binary, filepath.Join(logs, log), harness.ProcessArgs(victim, s.mode, s.memberDir, ttl)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s:\n%s", log, p.LogTail(40))
			}
		})
		return p
	}
	p := start("first.log")
	var atKill int
	eventually(t, "the syncer half-way", func() error {
		list, err := watched.MCS.MulticlusterV1alpha1().ServiceImports(ns).List(s.ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if atKill = len(list.Items); atKill < 20 {
			return fmt.Errorf("%d imports", atKill)
		}
		p.Kill()
		return nil
	})
	t.Logf("killed with %d of %d imports written in %s", atKill, n, watched.ID)
	if atKill >= n {
		t.Errorf("the syncer finished before it was killed; the test proves nothing")
	}

	// While it is dead: some exports go, some endpoints change.
	for i := range gone {
		s.unexport(t, c1, ns, name(i))
	}
	for i := gone; i < gone+20; i++ {
		sl, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, name(i)+"-a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sl.Endpoints = sl.Endpoints[:0]
		for _, e := range endpointsOf(i, 1) {
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		if _, err := c1.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	p = start("second.log")
	defer p.Stop()
	restarted := time.Now()
	want := map[string][]string{}
	for i := gone; i < n; i++ {
		gen := 0
		if i < gone+20 {
			gen = 1
		}
		want[name(i)] = addresses(endpointsOf(i, gen))
	}
	eventually(t, "converged with no duplicates and no orphans", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkExactly(c, ns, "cluster-1", want) })
	})
	t.Logf("converged %v after the restart", time.Since(restarted).Round(100*time.Millisecond))
}

// checkExactly checks that the syncer's objects in namespace ns of c are exactly the imports
// of want (service name -> addresses, all from source cluster src): one ServiceImport, one
// derived Service and one slice each, nothing else.
func (s *suite) checkExactly(c *harness.Cluster, ns, src string, want map[string][]string) error {
	imports, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).List(s.ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	svcs, err := c.Kube.CoreV1().Services(ns).List(s.ctx, metav1.ListOptions{LabelSelector: desired.ManagedByLabel + "=" + desired.ManagerName})
	if err != nil {
		return err
	}
	slicesList, err := c.Kube.DiscoveryV1().EndpointSlices(ns).List(s.ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelManagedBy + "=" + desired.ManagerName})
	if err != nil {
		return err
	}
	wantImports, wantSvcs, wantSlices := sets.New[string](), sets.New[string](), sets.New[string]()
	for name := range want {
		wantImports.Insert(name)
		wantSvcs.Insert(desired.DerivedServiceName(name))
		wantSlices.Insert(desired.DerivedServiceName(name) + "-" + src)
	}
	gotImports, gotSvcs, gotSlices := sets.New[string](), sets.New[string](), sets.New[string]()
	for _, si := range imports.Items {
		gotImports.Insert(si.Name)
		if len(si.Spec.IPs) == 0 {
			return fmt.Errorf("import %s has no ips", si.Name)
		}
	}
	for _, svc := range svcs.Items {
		gotSvcs.Insert(svc.Name)
	}
	var wrong []string
	for _, sl := range slicesList.Items {
		gotSlices.Insert(sl.Name)
		var addrs []string
		for _, ep := range sl.Endpoints {
			addrs = append(addrs, ep.Addresses...)
		}
		slices.Sort(addrs)
		if w := want[sl.Labels[mcsv1alpha1.LabelServiceName]]; !slices.Equal(addrs, w) {
			wrong = append(wrong, fmt.Sprintf("%s has %v, want %v", sl.Name, addrs, w))
		}
	}
	for what, pair := range map[string][2]sets.Set[string]{"imports": {gotImports, wantImports}, "derived Services": {gotSvcs, wantSvcs}, "slices": {gotSlices, wantSlices}} {
		got, w := pair[0], pair[1]
		if !got.Equal(w) {
			return fmt.Errorf("%s: %d extra %v, %d missing", what, got.Difference(w).Len(), sets.List(got.Difference(w))[:min(3, got.Difference(w).Len())], w.Difference(got).Len())
		}
	}
	if len(wrong) > 0 {
		return fmt.Errorf("%d slices with wrong endpoints, e.g. %s", len(wrong), wrong[0])
	}
	return nil
}

// testLeaderElection: two replicas of cluster-2's syncer with --leader-elect; one leads and
// writes, the standby is ready too; killing the leader hands over to the standby.
func (s *suite) testLeaderElection(t *testing.T) {
	const ns = "election"
	s.namespace(t, ns)
	c1, c2 := s.cluster("cluster-1"), s.cluster("cluster-2")
	binary, err := harness.BuildSyncer(s.ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.stopSyncer(t, c2.ID)
	defer s.startSyncer(t, c2)
	logs := t.TempDir()
	var replicas []*harness.Process
	for i := range 2 {
		args := append(harness.ProcessArgs(c2, s.mode, s.memberDir, ttl), "--leader-elect")
		p, err := harness.StartProcess(binary, filepath.Join(logs, fmt.Sprintf("replica-%d.log", i)), args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("replica %d:\n%s", i, p.LogTail(30))
			}
			p.Stop()
		})
		replicas = append(replicas, p)
	}
	for _, p := range replicas {
		if err := p.WaitReady(s.ctx); err != nil {
			t.Fatal(err)
		}
	}
	exportOne := func(name string, prefix string) {
		s.createService(t, c1, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
		s.createSlice(t, c1, ns, name, name+"-1", discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, ips(prefix, 1))
		s.export(t, c1, ns, name)
		eventually(t, name+" imported into cluster-2", func() error {
			return s.checkImport(c2, ns, name, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
				clusters: []string{"cluster-1"}, eps: map[string][]string{"cluster-1": addresses(ips(prefix, 1))}})
		})
	}
	exportOne("first", "10.120")

	var leader *harness.Process
	eventually(t, "one leader", func() error {
		lease, err := c2.Kube.CoordinationV1().Leases(harness.SyncerNamespace).Get(s.ctx, app.LeaderElectionLease, metav1.GetOptions{})
		if err != nil {
			return err
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		for _, p := range replicas {
			if strings.HasSuffix(holder, fmt.Sprintf("_%d", p.PID())) {
				leader = p
				return nil
			}
		}
		return fmt.Errorf("lease held by %q", holder)
	})
	leader.Kill()
	killed := time.Now()
	exportOne("second", "10.121")
	t.Logf("the standby took over and imported within %v of the leader's death", time.Since(killed).Round(100*time.Millisecond))
}
