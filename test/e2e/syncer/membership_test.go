package syncer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/member"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/proc"
)

// TestMembership: pull mode with three clusters. Each case gives cluster-2's syncer a member
// configuration of its own (the other two syncers keep the full one) and checks that what is
// still exported is neither lost nor changed, and that the clusterset converges.
func TestMembership(t *testing.T) {
	s := newSuite(t, app.ModePull, false)
	t.Run("BadMembersRefusedAlone", s.testMemberBadKubeconfigs)
	t.Run("AddedAndRemoved", s.testMemberAddedAndRemoved)
	t.Run("ImpostorsRefused", s.testMemberImpostors)
	t.Run("ClusterIDMissingForAWhile", s.testMemberClusterIDMissing)
	t.Run("LeaderHandover", s.testMemberLeaderHandover)
}

// memberSyncer is a syncer started by a membership case, with its log kept for assertions.
type memberSyncer struct {
	*harness.InProcess
	logger klog.Logger
}

// logged reports whether a log line at the default verbosity contains every part.
func (m *memberSyncer) logged(parts ...string) bool {
	for _, line := range strings.Split(m.logger.GetSink().(ktesting.Underlier).GetBuffer().String(), "\n") {
		if !strings.HasPrefix(line, "I") && !strings.HasPrefix(line, "E") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// refused reads members_refused_total for reason.
func (m *memberSyncer) refused(reason string) float64 {
	for _, mt := range m.family("members_refused_total") {
		for _, l := range mt.GetLabel() {
			if l.GetName() == "reason" && l.GetValue() == reason {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// undecided reads the members_undecided gauge.
func (m *memberSyncer) undecided() float64 {
	for _, mt := range m.family("members_undecided") {
		return mt.GetGauge().GetValue()
	}
	return -1
}

func (m *memberSyncer) family(name string) []*dto.Metric {
	families, _ := m.Metrics.Registry.Gather()
	for _, f := range families {
		if f.GetName() == metrics.Namespace+"_"+name {
			return f.GetMetric()
		}
	}
	return nil
}

// memberRestart replaces the suite's syncer in c by one configured by configure, logging at
// the default verbosity into a buffer; the suite's syncer comes back at cleanup.
func (s *suite) memberRestart(t *testing.T, c *harness.Cluster, configure func(*app.Options)) *memberSyncer {
	t.Helper()
	if _, ok := s.syncers[c.ID]; ok {
		s.stopSyncer(t, c.ID)
	}
	logger := ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(0), ktesting.BufferLogs(true)))
	o := s.options(c)
	configure(&o)
	m := &memberSyncer{InProcess: harness.StartInProcess(klog.NewContext(context.Background(), logger), o), logger: logger}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("membership syncer in %s: %v", c.ID, err)
		}
		s.startSyncer(t, c)
	})
	return m
}

// memberMountedDir lays out member kubeconfigs as the kubelet mounts a Secret: the files
// live in a timestamped directory that the "..data" symlink points at, and each file is a
// symlink through "..data"; an update writes a new directory and swaps "..data" atomically.
type memberMountedDir struct {
	dir     string
	version int
}

func (d *memberMountedDir) set(t *testing.T, files map[string][]byte) {
	t.Helper()
	d.version++
	ts := fmt.Sprintf("..2026_12_01_00_00_%02d.%d", d.version, d.version)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(d.dir, ts), 0o755))
	for name, data := range files {
		must(os.WriteFile(filepath.Join(d.dir, ts, name), data, 0o600))
	}
	old, _ := os.Readlink(filepath.Join(d.dir, "..data"))
	must(os.Symlink(ts, filepath.Join(d.dir, "..data_tmp")))
	must(os.Rename(filepath.Join(d.dir, "..data_tmp"), filepath.Join(d.dir, "..data")))
	entries, err := os.ReadDir(d.dir)
	must(err)
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !strings.HasPrefix(e.Name(), "..") {
			must(os.Remove(filepath.Join(d.dir, e.Name())))
		}
	}
	for name := range files {
		if _, err := os.Lstat(filepath.Join(d.dir, name)); os.IsNotExist(err) {
			must(os.Symlink(filepath.Join("..data", name), filepath.Join(d.dir, name)))
		}
	}
	if old != "" {
		must(os.RemoveAll(filepath.Join(d.dir, old)))
	}
}

// memberKubeconfigs reads the suite's kubeconfig of each cluster, by the file name the suite
// gives it (member-a.yaml for cluster-1, ...).
func (s *suite) memberKubeconfigs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for i := range s.clusters {
		name := fmt.Sprintf("member-%c.yaml", 'a'+i)
		data, err := os.ReadFile(filepath.Join(s.memberDir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

// memberSecret creates a member kubeconfig Secret in c's syncer namespace, removed at cleanup.
func (s *suite) memberSecret(t *testing.T, c *harness.Cluster, name string, kubeconfig []byte, annotations map[string]string) {
	t.Helper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: harness.SyncerNamespace, Labels: map[string]string{member.SecretLabel: "true"}, Annotations: annotations},
		Data:       map[string][]byte{member.SecretKey: kubeconfig},
	}
	if _, err := c.Kube.CoreV1().Secrets(harness.SyncerNamespace).Create(s.ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.memberDeleteSecret(t, c, name) })
}

func (s *suite) memberDeleteSecret(t *testing.T, c *harness.Cluster, name string) {
	err := c.Kube.CoreV1().Secrets(harness.SyncerNamespace).Delete(s.ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Error(err)
	}
}

// memberExport creates a Service with one endpoint at ip in c and exports it.
func (s *suite) memberExport(t *testing.T, c *harness.Cluster, ns, name, ip string) {
	t.Helper()
	s.createService(t, c, service(ns, name, corev1.ServiceTypeClusterIP, port("http", 80)))
	s.createSlice(t, c, ns, name, name+"-"+c.ID, discoveryv1.AddressTypeIPv4, []discoveryv1.EndpointPort{slicePort("http", 8080)}, []endpoint{{ip: ip}})
	s.export(t, c, ns, name)
}

// memberUnchanged checks that the import of ns/name in c is still the one recorded: same
// ServiceImport, same derived Service, same VIP.
func (s *suite) memberUnchanged(c *harness.Cluster, ns, name string, was importState) error {
	now, err := s.importStateOf(c, ns, name)
	if err != nil {
		return fmt.Errorf("import %s/%s in %s: %w", ns, name, c.ID, err)
	}
	if !was.sameIdentity(now) {
		return fmt.Errorf("import %s/%s in %s changed: %v, was %v", ns, name, c.ID, now, was)
	}
	return nil
}

// memberWatchUnchanged polls, until the returned stop is called, that the imports of ns/names
// in every cluster keep their identity (their exporters may change); stop returns what changed.
func (s *suite) memberWatchUnchanged(t *testing.T, ns string, names ...string) (stop func() error) {
	t.Helper()
	stopWatch := s.watchImports(t, ns, names, s.clusters, importState.sameIdentity)
	return func() error {
		if problems, _ := stopWatch(); len(problems) > 0 {
			return errors.New(strings.Join(problems, "\n"))
		}
		return nil
	}
}

// memberNowhere is a kubeconfig for a loopback port nothing listens on.
func memberNowhere(t *testing.T, good []byte) []byte {
	t.Helper()
	ports, err := proc.FreePorts("127.0.0.1", 1)
	if err != nil {
		t.Fatal(err)
	}
	return memberRewrite(t, good, func(kc map[string]any) {
		kc["clusters"].([]any)[0].(map[string]any)["cluster"].(map[string]any)["server"] = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	})
}

// memberWithUser rewrites a kubeconfig's first user.
func memberWithUser(t *testing.T, good []byte, user map[string]any) []byte {
	t.Helper()
	return memberRewrite(t, good, func(kc map[string]any) {
		kc["users"].([]any)[0].(map[string]any)["user"] = user
	})
}

func memberRewrite(t *testing.T, data []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var kc map[string]any
	if err := yaml.Unmarshal(data, &kc); err != nil {
		t.Fatal(err)
	}
	edit(kc)
	out, err := yaml.Marshal(kc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testMemberBadKubeconfigs: a garbage kubeconfig file, one pointing nowhere and a Secret
// holding a broken kubeconfig are each refused (or retried) on their own; the imports that
// existed keep their identity and new exports from the good members keep flowing.
func (s *suite) testMemberBadKubeconfigs(t *testing.T) {
	const ns = "member-bad"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	s.memberExport(t, c1, ns, "steady", "10.130.0.1")
	eventually(t, "steady imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return s.checkImport(c, ns, "steady", imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
				clusters: []string{"cluster-1"}, eps: map[string][]string{"cluster-1": {"10.130.0.1"}}})
		})
	})
	unchanged := s.memberWatchUnchanged(t, ns, "steady")

	files := s.memberKubeconfigs(t)
	files["garbage.yaml"] = []byte("\x00\x01 this is: [not a kubeconfig")
	files["nowhere.yaml"] = memberNowhere(t, files["member-a.yaml"])
	dir := &memberMountedDir{dir: t.TempDir()}
	dir.set(t, files)
	s.memberSecret(t, c2, "broken-member", []byte("apiVersion: v1\nkind: Config\nclusters: {{{"), nil)
	m := s.memberRestart(t, c2, func(o *app.Options) {
		o.MemberKubeconfigs = dir.dir
		o.MemberSecretSelector = member.SecretLabel + "=true"
	})

	eventually(t, "the bad members refused, each on its own", func() error {
		switch {
		case m.refused(member.RefusedMalformed) != 2:
			return fmt.Errorf("members_refused_total{reason=Malformed} = %v, want 2", m.refused(member.RefusedMalformed))
		case !m.logged("Member refused", "garbage.yaml", member.RefusedMalformed):
			return fmt.Errorf("no refusal logged for garbage.yaml")
		case !m.logged("Member refused", "secret "+harness.SyncerNamespace+"/broken-member", member.RefusedMalformed):
			return fmt.Errorf("no refusal logged for the Secret")
		case !m.logged("Member unreachable, retrying", "nowhere.yaml"):
			return fmt.Errorf("the unreachable member is not reported")
		case m.undecided() != 3:
			return fmt.Errorf("members_undecided = %v, want 3 (garbage, nowhere, the Secret)", m.undecided())
		}
		return nil
	})
	s.memberExport(t, c3, ns, "fresh", "10.130.0.3")
	eventually(t, "a new export from a good member imported by the syncer with bad members", func() error {
		return s.inAll(func(c *harness.Cluster) error {
			return s.checkImport(c, ns, "fresh", imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
				clusters: []string{"cluster-3"}, eps: map[string][]string{"cluster-3": {"10.130.0.3"}}})
		})
	})
	if err := s.checkImport(c2, ns, "steady", imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
		clusters: []string{"cluster-1"}, eps: map[string][]string{"cluster-1": {"10.130.0.1"}}}); err != nil {
		t.Error(err)
	}
	if err := unchanged(); err != nil {
		t.Error(err)
	}
}

// testMemberAddedAndRemoved: cluster-3 joins cluster-2's syncer at run time through the
// mounted directory and then through a Secret, and leaves again each way. Its sole export
// is imported on joining and collected on leaving; the export it shares with cluster-1 keeps
// its import, derived Service and VIP throughout.
func (s *suite) testMemberAddedAndRemoved(t *testing.T) {
	const ns = "member-dyn"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	files := s.memberKubeconfigs(t)
	without3 := map[string][]byte{"member-a.yaml": files["member-a.yaml"], "member-b.yaml": files["member-b.yaml"]}
	dir := &memberMountedDir{dir: t.TempDir()}
	dir.set(t, without3)
	m := s.memberRestart(t, c2, func(o *app.Options) {
		o.MemberKubeconfigs = dir.dir
		o.MemberSecretSelector = member.SecretLabel + "=true"
	})

	s.memberExport(t, c1, ns, "both", "10.131.0.1")
	s.memberExport(t, c3, ns, "both", "10.131.0.3")
	s.memberExport(t, c3, ns, "only3", "10.131.3.1")
	http := []string{"http/TCP/80"}
	withBoth := imported{typ: mcsv1alpha1.ClusterSetIP, ports: http, clusters: []string{"cluster-1", "cluster-3"},
		eps: map[string][]string{"cluster-1": {"10.131.0.1"}, "cluster-3": {"10.131.0.3"}}}
	withOne := imported{typ: mcsv1alpha1.ClusterSetIP, ports: http, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": {"10.131.0.1"}}}
	only3 := imported{typ: mcsv1alpha1.ClusterSetIP, ports: http, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": {"10.131.3.1"}}}
	withoutMember3 := func() error {
		if err := s.checkImport(c2, ns, "both", withOne); err != nil {
			return err
		}
		return s.checkGone(c2, ns, "only3")
	}
	withMember3 := func() error {
		if err := s.checkImport(c2, ns, "both", withBoth); err != nil {
			return err
		}
		return s.checkImport(c2, ns, "only3", only3)
	}
	eventually(t, "cluster-2 sees cluster-1 only; the others see all", func() error {
		if err := withoutMember3(); err != nil {
			return err
		}
		for _, c := range []*harness.Cluster{c1, c3} {
			if err := s.checkImport(c, ns, "both", withBoth); err != nil {
				return err
			}
			if err := s.checkImport(c, ns, "only3", only3); err != nil {
				return err
			}
		}
		return nil
	})
	was, err := s.importStateOf(c2, ns, "both")
	if err != nil {
		t.Fatal(err)
	}
	unchangedElsewhere := s.memberWatchUnchanged(t, ns, "both")

	converge := func(what string, check func() error) time.Duration {
		t.Helper()
		start := time.Now()
		eventually(t, what, check)
		took := time.Since(start)
		t.Logf("%s: %v", what, took.Round(100*time.Millisecond))
		if err := s.memberUnchanged(c2, ns, "both", was); err != nil {
			t.Error(err)
		}
		return took
	}
	dir.set(t, files)
	converge("cluster-3 joined through the directory", withMember3)
	dir.set(t, without3)
	converge("cluster-3 left the directory, only3 collected", withoutMember3)
	s.memberSecret(t, c2, "member-cluster-3", files["member-c.yaml"], map[string]string{member.ExpectedClusterIDAnnotation: "cluster-3"})
	converge("cluster-3 joined through a Secret", withMember3)
	s.memberDeleteSecret(t, c2, "member-cluster-3")
	converge("cluster-3's Secret deleted, only3 collected", withoutMember3)

	// A changed kubeconfig reconnects without cluster-3 ever looking removed; a second
	// kubeconfig for cluster-3 is refused as a duplicate and takes over, again without a gap,
	// when the first one goes.
	dir.set(t, files)
	converge("cluster-3 joined through the directory again", withMember3)
	only3Was, err := s.importStateOf(c2, ns, "only3")
	if err != nil {
		t.Fatal(err)
	}
	renamed := maps.Clone(files)
	renamed["member-c.yaml"] = memberRewrite(t, files["member-c.yaml"], func(kc map[string]any) {
		kc["contexts"].([]any)[0].(map[string]any)["name"] = "renamed"
		kc["current-context"] = "renamed"
	})
	dir.set(t, renamed)
	eventually(t, "the changed kubeconfig reconnected", func() error {
		if !m.logged("Member kubeconfig changed, reconnecting", "member-c.yaml") || !m.logged("Member admitted", "member-c.yaml", "cluster-3") {
			return fmt.Errorf("no reconnection logged")
		}
		return nil
	})
	s.memberExport(t, c3, ns, "later3", "10.131.3.2")
	eventually(t, "an export of cluster-3 through the new connection", func() error {
		return s.checkImport(c2, ns, "later3", imported{typ: mcsv1alpha1.ClusterSetIP, ports: http, clusters: []string{"cluster-3"},
			eps: map[string][]string{"cluster-3": {"10.131.3.2"}}})
	})
	s.memberSecret(t, c2, "member-cluster-3", files["member-c.yaml"], nil)
	eventually(t, "the second kubeconfig of cluster-3 refused", func() error {
		if n := m.refused(member.RefusedDuplicateID); n != 1 {
			return fmt.Errorf("members_refused_total{reason=DuplicateClusterID} = %v, want 1", n)
		}
		if !m.logged("Member refused", "secret "+harness.SyncerNamespace+"/member-cluster-3", member.RefusedDuplicateID, "member-c.yaml") {
			return fmt.Errorf("the duplicate's refusal does not name the holder")
		}
		return nil
	})
	dir.set(t, without3)
	eventually(t, "the Secret took cluster-3 over", func() error {
		if !m.logged("Member handed over", "cluster-3", "secret "+harness.SyncerNamespace+"/member-cluster-3") {
			return fmt.Errorf("no handover logged")
		}
		return nil
	})
	time.Sleep(2 * ttl) // past the member TTL: a gap would have withdrawn or collected by now
	for name, was := range map[string]importState{"both": was, "only3": only3Was} {
		if err := s.memberUnchanged(c2, ns, name, was); err != nil {
			t.Error(err)
		}
	}
	if err := withMember3(); err != nil {
		t.Errorf("after the handover: %v", err)
	}

	if err := unchangedElsewhere(); err != nil {
		t.Error(err)
	}
	if n := m.undecided(); n != 0 {
		t.Errorf("members_undecided = %v, want 0", n)
	}
	for _, reason := range []string{member.RefusedMalformed, member.RefusedIDMismatch} {
		if n := m.refused(reason); n != 0 {
			t.Errorf("members_refused_total{reason=%s} = %v", reason, n)
		}
	}
}

// memberSetClusterID sets a cluster's ClusterProperty cluster ID until restore. The cluster's
// own syncer, and the syncers that identified it before, are not affected: identities are
// read when a syncer connects.
func (s *suite) memberSetClusterID(t *testing.T, c *harness.Cluster, id string) (restore func()) {
	t.Helper()
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	props := client.Resource(member.ClusterProperties)
	set := func(value string) error {
		obj, err := props.Get(s.ctx, member.ClusterIDProperty, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(obj.Object, value, "spec", "value"); err != nil {
			return err
		}
		_, err = props.Update(s.ctx, obj, metav1.UpdateOptions{})
		return err
	}
	if err := set(id); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := set(c.ID); err != nil {
			t.Error(err)
		}
	}
}

// memberDeleteClusterID deletes c's id.k8s.io ClusterProperty, as a just-restarted apiserver
// appears to have none until it serves custom resources again; restore creates it anew.
func (s *suite) memberDeleteClusterID(t *testing.T, c *harness.Cluster) (restore func()) {
	t.Helper()
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	props := client.Resource(member.ClusterProperties)
	obj, err := props.Get(s.ctx, member.ClusterIDProperty, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := props.Delete(s.ctx, member.ClusterIDProperty, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore = func() {
		if restored {
			return
		}
		restored = true
		fresh := &unstructured.Unstructured{Object: map[string]any{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(), "spec": obj.Object["spec"]}}
		fresh.SetName(obj.GetName())
		if _, err := props.Create(s.ctx, fresh, metav1.CreateOptions{}); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(restore)
	return restore
}

// noClusterIDWait outlasts the syncer's retry of a member that answers without a cluster ID.
const noClusterIDWait = 6 * time.Second

// testMemberClusterIDMissing: a member that answers without a cluster ID while a syncer
// restarts is refused for now, not for good. It stays undecided, so what it exported keeps
// its import, derived Service and VIP everywhere; once its ClusterProperty is back it joins
// without being reconfigured.
func (s *suite) testMemberClusterIDMissing(t *testing.T) {
	const ns = "member-noid"
	s.namespace(t, ns)
	c2, c3 := s.cluster("cluster-2"), s.cluster("cluster-3")
	s.memberExport(t, c3, ns, "only3", "10.133.3.1")
	only3 := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-3"},
		eps: map[string][]string{"cluster-3": {"10.133.3.1"}}}
	eventually(t, "only3 imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "only3", only3) })
	})
	unchanged := s.memberWatchUnchanged(t, ns, "only3")

	restore := s.memberDeleteClusterID(t, c3)
	m := s.memberRestart(t, c2, func(*app.Options) {})
	eventually(t, "cluster-2's syncer refuses cluster-3 for now and counts it undecided", func() error {
		if !m.logged("Member refused", member.RefusedNoClusterID) || m.refused(member.RefusedNoClusterID) != 1 {
			return errors.New("no NoClusterID refusal logged and counted once")
		}
		if got := m.undecided(); got != 1 {
			return fmt.Errorf("members_undecided = %v, want 1", got)
		}
		return nil
	})
	// Past two resyncs and a retry or two, it is still undecided and counted once.
	time.Sleep(2*resync + noClusterIDWait)
	if got := m.undecided(); got != 1 {
		t.Errorf("members_undecided = %v after the wait, want 1", got)
	}
	if got := m.refused(member.RefusedNoClusterID); got != 1 {
		t.Errorf("members_refused_total{reason=NoClusterID} = %v, want 1: one refusal, retried quietly", got)
	}
	// Its endpoints may be withdrawn after the member TTL, as for any member not seen; the
	// import itself stays (and the watch checks it keeps its identity).
	if _, err := s.importStateOf(c2, ns, "only3"); err != nil {
		t.Errorf("cluster-2 lost what cluster-3 exported while cluster-3 had no ID: %v", err)
	}

	restore()
	eventually(t, "cluster-3 joins cluster-2's syncer once it has its ID again", func() error {
		if got := m.undecided(); got != 0 {
			return fmt.Errorf("members_undecided = %v, want 0", got)
		}
		return s.checkImport(c2, ns, "only3", only3)
	})
	if err := unchanged(); err != nil {
		t.Error(err)
	}
}

// testMemberImpostors: a member claiming the local cluster's ID, one claiming an admitted
// member's ID, one whose Secret pins another ID, and kubeconfigs that would run a command or
// read a file are refused, at the default log level and in members_refused_total; the
// command never runs. The local cluster listed among the members is recognised, not refused.
func (s *suite) testMemberImpostors(t *testing.T) {
	const ns = "member-impostors"
	s.namespace(t, ns)
	c1, c2, c3 := s.cluster("cluster-1"), s.cluster("cluster-2"), s.cluster("cluster-3")
	s.memberExport(t, c1, ns, "genuine", "10.132.0.1")
	genuine := imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"}, clusters: []string{"cluster-1"},
		eps: map[string][]string{"cluster-1": {"10.132.0.1"}}}
	eventually(t, "genuine imported everywhere", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkImport(c, ns, "genuine", genuine) })
	})
	unchanged := s.memberWatchUnchanged(t, ns, "genuine")
	files := s.memberKubeconfigs(t)
	planted := filepath.Join(t.TempDir(), "exec-ran")
	plugin := memberWithUser(t, files["member-a.yaml"], map[string]any{"exec": map[string]any{
		"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/sh", "interactiveMode": "Never",
		"args": []any{"-c", "touch " + planted + "; echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}'"},
	}})
	tokenFile := memberWithUser(t, files["member-a.yaml"], map[string]any{"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"})

	for _, tc := range []struct {
		claim, reason string
	}{
		{"cluster-2", member.RefusedLocalClusterID},
		{"cluster-1", member.RefusedDuplicateID},
	} {
		t.Run("claims "+tc.claim, func(t *testing.T) {
			restore := s.memberSetClusterID(t, c3, tc.claim)
			dir := &memberMountedDir{dir: t.TempDir()}
			dir.set(t, map[string][]byte{
				"member-a.yaml": files["member-a.yaml"], "member-b.yaml": files["member-b.yaml"], "member-c.yaml": files["member-c.yaml"],
				"plugin.yaml": plugin, "tokenfile.yaml": tokenFile,
			})
			s.memberSecret(t, c2, "pinned", files["member-a.yaml"], map[string]string{member.ExpectedClusterIDAnnotation: "cluster-9"})
			m := s.memberRestart(t, c2, func(o *app.Options) {
				o.MemberKubeconfigs = dir.dir
				o.MemberSecretSelector = member.SecretLabel + "=true"
			})
			// Before the suite's syncer comes back (cleanups run last first).
			t.Cleanup(restore)
			eventually(t, "every impostor refused and logged at the default level", func() error {
				for _, want := range []struct{ reason, origin string }{
					{tc.reason, "member-c.yaml"},
					{member.RefusedCredentialPlugin, "plugin.yaml"},
					{member.RefusedFileReference, "tokenfile.yaml"},
					{member.RefusedIDMismatch, "secret " + harness.SyncerNamespace + "/pinned"},
				} {
					if n := m.refused(want.reason); n != 1 {
						return fmt.Errorf("members_refused_total{reason=%s} = %v, want 1", want.reason, n)
					}
					if !m.logged("Member refused", want.origin, want.reason) {
						return fmt.Errorf("no refusal of %s logged with reason %s", want.origin, want.reason)
					}
				}
				if !m.logged("Member is the local cluster", "member-b.yaml") {
					return fmt.Errorf("the local cluster among the members is not recognised")
				}
				return nil
			})
			// cluster-1 is admitted from member-a.yaml: its new exports still flow.
			name := "after-" + tc.claim
			s.memberExport(t, c1, ns, name, "10.132.1.1")
			eventually(t, name+" imported by the syncer that refused the impostors", func() error {
				return s.checkImport(c2, ns, name, imported{typ: mcsv1alpha1.ClusterSetIP, ports: []string{"http/TCP/80"},
					clusters: []string{"cluster-1"}, eps: map[string][]string{"cluster-1": {"10.132.1.1"}}})
			})
			if _, err := os.Stat(planted); !os.IsNotExist(err) {
				t.Errorf("the exec plugin ran: %s exists (%v)", planted, err)
			}
		})
	}
	if err := unchanged(); err != nil {
		t.Error(err)
	}
}

// testMemberLeaderHandover: two replicas of cluster-2's syncer with --leader-elect while the
// endpoints of 100 exports of cluster-2 keep changing; the leader is killed mid-change. After
// the handover every cluster holds exactly one import, derived Service and slice per export,
// with the last endpoints, and every export has its status. Then a replica whose elected
// work fails (its member directory is missing) exits non-zero and gives the lease up.
func (s *suite) testMemberLeaderHandover(t *testing.T) {
	const ns, n = "member-election", 100
	s.namespace(t, ns)
	c2 := s.cluster("cluster-2")
	binary, err := harness.BuildSyncer(s.ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.stopSyncer(t, c2.ID)
	defer s.startSyncer(t, c2)

	names := harness.DistinctNames("svc", n)
	addressOf := func(i, gen int) string { return fmt.Sprintf("10.%d.%d.%d", 140+gen%100, i/200, i%200+1) }
	for i, name := range names {
		s.memberExport(t, c2, ns, name, addressOf(i, 0))
	}

	logs := t.TempDir()
	start := func(log string, args ...string) *harness.Process {
		args = append(append(harness.ProcessArgs(c2, s.mode, s.memberDir, ttl), "--leader-elect", "--resync-period="+resync.String()), args...)
		p, err := harness.StartProcess(binary, filepath.Join(logs, log), args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			p.Stop()
			if t.Failed() {
				t.Logf("%s:\n%s", log, p.LogTail(30))
			}
			// With CLUSTERSET_SYNCER built with -race, a race is reported in the log.
			if data, _ := os.ReadFile(p.LogPath); strings.Contains(string(data), "DATA RACE") {
				t.Errorf("%s reports a data race:\n%s", log, data)
			}
		})
		return p
	}
	replicas := []*harness.Process{start("replica-0.log"), start("replica-1.log")}
	for _, p := range replicas {
		if err := p.WaitReady(s.ctx); err != nil {
			t.Fatal(err)
		}
	}
	holder := func() (string, *harness.Process, error) {
		lease, err := c2.Kube.CoordinationV1().Leases(harness.SyncerNamespace).Get(s.ctx, app.LeaderElectionLease, metav1.GetOptions{})
		if err != nil {
			return "", nil, err
		}
		h := ptr.Deref(lease.Spec.HolderIdentity, "")
		for _, p := range replicas {
			if strings.HasSuffix(h, fmt.Sprintf("_%d", p.PID())) && !p.Exited() {
				return h, p, nil
			}
		}
		return h, nil, nil
	}
	var leader *harness.Process
	eventually(t, "one leader", func() error {
		h, p, err := holder()
		if err == nil && p == nil {
			err = fmt.Errorf("lease held by %q", h)
		}
		leader = p
		return err
	})

	// Change the endpoints of every export, round after round, across the handover.
	changing, changed := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	gen := make([]int, n)
	go func() {
		defer close(changed)
		for round := 1; ; round++ {
			for i, name := range names {
				select {
				case <-changing:
					return
				default:
				}
				sl, err := c2.Kube.DiscoveryV1().EndpointSlices(ns).Get(s.ctx, name+"-"+c2.ID, metav1.GetOptions{})
				if err != nil {
					continue
				}
				sl.Endpoints[0].Addresses = []string{addressOf(i, round)}
				if _, err := c2.Kube.DiscoveryV1().EndpointSlices(ns).Update(s.ctx, sl, metav1.UpdateOptions{}); err == nil {
					mu.Lock()
					gen[i] = round
					mu.Unlock()
				}
			}
		}
	}()
	time.Sleep(3 * time.Second)
	leader.Kill()
	killed := time.Now()
	var standby *harness.Process
	eventually(t, "the standby leads", func() error {
		h, p, err := holder()
		if err == nil && (p == nil || p == leader) {
			err = fmt.Errorf("lease held by %q", h)
		}
		standby = p
		return err
	})
	t.Logf("the standby took the lease %v after the leader was killed", time.Since(killed).Round(100*time.Millisecond))
	time.Sleep(3 * time.Second) // changes go on under the new leader
	close(changing)
	<-changed

	want := map[string][]string{}
	mu.Lock()
	for i, name := range names {
		want[name] = []string{addressOf(i, gen[i])}
	}
	mu.Unlock()
	converging := time.Now()
	eventually(t, "every cluster has exactly the 100 imports with their last endpoints", func() error {
		return s.inAll(func(c *harness.Cluster) error { return s.checkExactly(c, ns, c2.ID, want) })
	})
	eventually(t, "every export has its status", func() error {
		for _, name := range names {
			if err := s.checkConditions(c2, ns, name, "Valid=True/Valid", "Ready=True/Exported", "Conflict=False/NoConflicts"); err != nil {
				return err
			}
		}
		return nil
	})
	t.Logf("converged %v after the changes stopped", time.Since(converging).Round(100*time.Millisecond))

	// A replica whose elected work fails: its member directory does not exist. It stands by
	// while the standby leads; stopped, the leader releases the lease after its workers.
	failing := start("failing.log", "--member-kubeconfigs="+filepath.Join(logs, "missing"))
	if err := failing.WaitReady(s.ctx); err != nil {
		t.Fatal(err)
	}
	replicas = append(replicas, failing)
	standby.Stop()
	select {
	case <-failing.Done():
	case <-time.After(timeout):
		t.Fatalf("the replica whose elected work fails is still running:\n%s", failing.LogTail(20))
	}
	if err := failing.ExitError(); !strings.Contains(err.Error(), "exit status 1") {
		t.Errorf("the failing replica's exit: %v", err)
	}
	if !strings.Contains(failing.LogTail(40), "elected work stopped") {
		t.Errorf("the failing replica does not say why it exits:\n%s", failing.LogTail(40))
	}
	lease, err := c2.Kube.CoordinationV1().Leases(harness.SyncerNamespace).Get(s.ctx, app.LeaderElectionLease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "" || ptr.Deref(lease.Spec.LeaseDurationSeconds, 0) != 1 {
		t.Errorf("after the failing replica exited the lease is held by %q for %ds, want released", h, ptr.Deref(lease.Spec.LeaseDurationSeconds, 0))
	}
}
