package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/inspect"
	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
	"github.com/clusterset/clusterset/test/stack"
)

const (
	ns        = "cli"
	partialNS = "partial" // exists in cluster-1 and cluster-2 only
	// memberTTL is the syncers' --member-ttl and so their heartbeat Leases' duration.
	memberTTL = 10 * time.Second
	converge  = 90 * time.Second
)

// workload is one Service and its ready Pods (name -> IP) in one cluster.
type workload struct {
	cluster   int // index into env.Clusters
	namespace string
	name      string
	spec      corev1.ServiceSpec
	pods      map[string]string
	export    bool
}

var http80 = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}

// The clusterset the test inspects.
var workloads = []workload{
	// web: healthy, ClusterIP from cluster-1.
	{0, ns, "web", corev1.ServiceSpec{Ports: http80}, map[string]string{"web-0": "10.244.1.10", "web-1": "10.244.1.11"}, true},
	// api: a TypeConflict, ClusterIP in cluster-1 (exported first, so the oldest) and headless in cluster-2.
	{0, ns, "api", corev1.ServiceSpec{Ports: http80}, map[string]string{"api-0": "10.244.1.20"}, true},
	{1, ns, "api", corev1.ServiceSpec{Ports: http80, ClusterIP: corev1.ClusterIPNone}, map[string]string{"api-0": "10.244.2.20"}, true},
	// ext: an ExternalName Service, refused.
	{1, ns, "ext", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "ext.example.invalid"}, nil, true},
	// partial/app: cluster-3 lacks the namespace.
	{0, partialNS, "app", corev1.ServiceSpec{Ports: http80}, map[string]string{"app-0": "10.244.1.30"}, true},
	// multi: exported from cluster-1 and cluster-3, whose apiserver the test stops.
	{0, ns, "multi", corev1.ServiceSpec{Ports: http80}, map[string]string{"multi-0": "10.244.1.40"}, true},
	{2, ns, "multi", corev1.ServiceSpec{Ports: http80}, map[string]string{"multi-0": "10.244.3.40"}, true},
}

type suite struct {
	env        *localenv.Env
	st         *stack.Stack
	bin        string
	kubeconfig string
	dnsFlag    string
}

func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers, syncers and CoreDNS")
	}
	bin := bindir.Require(t, "kubectl-clusterset", "clusterset-syncer", "coredns")["kubectl-clusterset"]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := localenv.StartT(t, localenv.Options{Clusters: 3, ControllerManager: true})
	st, err := stack.Start(ctx, env, stack.Options{MemberTTL: memberTTL, Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)
	s := &suite{env: env, st: st, bin: bin, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := env.WriteKubeconfig(s.kubeconfig); err != nil {
		t.Fatal(err)
	}
	var dns []string
	for _, d := range st.DNS {
		dns = append(dns, d.Cluster.ID+"="+d.Addr)
	}
	s.dnsFlag = strings.Join(dns, ",")
	s.setUp(ctx, t)

	// The order matters: the faults come last, the apiserver stop at the very end.
	t.Run("status", s.testStatus)
	t.Run("check passes when healthy", s.testCheckHealthy)
	t.Run("a hand-edited ServiceImport fails check, a stopped syncer is stale", s.testHandEdit)
	t.Run("a stopped apiserver", s.testStoppedAPIServer)
}

// setUp creates the namespaces and workloads, plays the kubelet for the Pods and exports.
func (s *suite) setUp(ctx context.Context, t *testing.T) {
	for i, c := range s.env.Clusters {
		kube := kubernetes.NewForConfigOrDie(c.Config)
		names := []string{ns}
		if i < 2 {
			names = append(names, partialNS)
		}
		for _, n := range names {
			if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range workloads {
		c := s.env.Clusters[w.cluster]
		kube := kubernetes.NewForConfigOrDie(c.Config)
		labels := map[string]string{"app": w.name}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: w.name}, Spec: w.spec}
		if w.spec.Type != corev1.ServiceTypeExternalName {
			svc.Spec.Selector = labels
		}
		if _, err := kube.CoreV1().Services(w.namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: Service %s/%s: %v", c.ID, w.namespace, w.name, err)
		}
		for pod, ip := range w.pods {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: pod, Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
			if _, err := kube.CoreV1().Pods(w.namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := c.MakePodReady(ctx, w.namespace, pod, ip); err != nil {
				t.Fatal(err)
			}
		}
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: w.namespace, Name: w.name}}
		if _, err := mcsclient.NewForConfigOrDie(c.Config).MulticlusterV1alpha1().ServiceExports(w.namespace).Create(ctx, se, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *suite) testStatus(t *testing.T) {
	r := awaitStatus(t, s, "every workload reconciled", func(r inspect.StatusReport) string {
		for _, k := range []string{"cli/web", "cli/api", "cli/ext", "cli/multi", "partial/app"} {
			st := service(r, k)
			switch {
			case st == nil:
				return k + " not reported"
			case k == "cli/ext":
				if st.Clusters[1].Export == nil || st.Clusters[1].Export.Valid.Status == "" {
					return k + ": no Valid condition yet"
				}
			case k == "cli/api":
				if e := st.Clusters[1].Export; e == nil || e.Conflict.Status != "True" {
					return k + ": no Conflict=True on cluster-2's export yet"
				}
				fallthrough
			default:
				for _, c := range st.Clusters {
					if c.Import.State == inspect.NotImported || (c.Import.State == inspect.Imported && c.Import.Type == "ClusterSetIP" && len(c.Import.IPs) == 0) {
						return fmt.Sprintf("%s: %s not imported yet", k, c.Cluster)
					}
					if c.Export != nil && c.Export.Ready.Status != "True" && k != "cli/ext" {
						return fmt.Sprintf("%s: %s's export not ready yet", k, c.Cluster)
					}
				}
				if k == "cli/multi" && endpoints(st, "cluster-2", "cluster-3") != "1/1" {
					return k + ": cluster-2 does not hold cluster-3's endpoint yet"
				}
			}
		}
		return ""
	})

	t.Run("healthy export", func(t *testing.T) {
		st := service(r, "cli/web")
		if len(st.Problems) > 0 {
			t.Errorf("problems: %q", st.Problems)
		}
		if !slices.Equal(st.Exporters, []string{"cluster-1"}) || st.Winner != "cluster-1" {
			t.Errorf("exporters %v winner %q, want cluster-1", st.Exporters, st.Winner)
		}
		for i, c := range st.Clusters {
			// The VIP shown is the cluster's own ServiceImport's.
			si, err := mcsclient.NewForConfigOrDie(s.env.Clusters[i].Config).MulticlusterV1alpha1().ServiceImports(ns).Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Import.State != inspect.Imported || !slices.Equal(c.Import.IPs, si.Spec.IPs) || endpoints(st, c.Cluster, "cluster-1") != "2/2" {
				t.Errorf("%s: import %+v, want Imported with VIP %v and cluster-1 2/2", c.Cluster, c.Import, si.Spec.IPs)
			}
		}
		if e := st.Clusters[0].Export; e == nil || e.Valid.Reason != "Valid" || e.Ready.Reason != "Exported" || e.Conflict.Reason != "NoConflicts" {
			t.Errorf("cluster-1's export %+v, want Valid, Exported, NoConflicts", e)
		}
	})
	t.Run("conflict", func(t *testing.T) {
		st := service(r, "cli/api")
		if st.Winner != "cluster-1" || !slices.Equal(st.Exporters, []string{"cluster-1", "cluster-2"}) {
			t.Errorf("winner %q exporters %v, want cluster-1 of cluster-1, cluster-2", st.Winner, st.Exporters)
		}
		for _, c := range st.Clusters[:2] {
			if c.Export == nil || c.Export.Conflict.Reason != "TypeConflict" {
				t.Errorf("%s's export %+v, want Conflict TypeConflict", c.Cluster, c.Export)
			}
		}
		wantProblem(t, st, "conflict TypeConflict, the oldest export (cluster-1) wins: type: cluster-2 has Headless; using ClusterSetIP from cluster-1")
	})
	t.Run("missing namespace", func(t *testing.T) {
		st := service(r, "partial/app")
		if got := st.Clusters[2].Import.State; got != inspect.NamespaceMissing {
			t.Errorf("cluster-3's import %s, want %s", got, inspect.NamespaceMissing)
		}
		wantProblem(t, st, "cluster-3: namespace partial missing: not imported there")
		if len(st.Problems) != 1 {
			t.Errorf("problems %q, want only the missing namespace", st.Problems)
		}
	})
	t.Run("ExternalName export refused", func(t *testing.T) {
		st := service(r, "cli/ext")
		if e := st.Clusters[1].Export; e == nil || e.Valid.Status != "False" || e.Valid.Reason != "InvalidServiceType" {
			t.Errorf("cluster-2's export %+v, want Valid=False InvalidServiceType", e)
		}
		for _, c := range st.Clusters {
			if c.Import.State != inspect.NotImported {
				t.Errorf("%s imports it: %+v", c.Cluster, c.Import)
			}
		}
		wantProblem(t, st, "cluster-2: export refused: Valid=False InvalidServiceType: a Service of type ExternalName cannot be exported")
	})
	t.Run("the table says it in one line each", func(t *testing.T) {
		out := s.run(t, "status").stdout
		for _, want := range []string{
			"! conflict TypeConflict, the oldest export (cluster-1) wins",
			"! cluster-3: namespace partial missing",
			"! cluster-2: export refused: Valid=False InvalidServiceType",
			"False/InvalidServiceType", "True/TypeConflict", "no namespace",
			"5 exported services, 3 with problems",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the table lacks %q:\n%s", want, out)
			}
		}
		t.Logf("kubectl clusterset status:\n%s", out)
	})
	t.Run("one service, from a kubeconfig directory, as YAML", func(t *testing.T) {
		dir := t.TempDir()
		for _, c := range s.env.Clusters {
			if err := os.Symlink(c.Kubeconfig, filepath.Join(dir, c.ID+".yaml")); err != nil {
				t.Fatal(err)
			}
		}
		out := s.runWith(t, []string{"status", "cli/web", "--kubeconfig-dir", dir, "-o", "yaml"}).stdout
		for _, want := range []string{"name: web", "member: cluster-3.yaml", "state: Imported"} {
			if !strings.Contains(out, want) {
				t.Errorf("the YAML lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "name: api") {
			t.Errorf("status cli/web reports other services:\n%s", out)
		}
	})
}

func (s *suite) testCheckHealthy(t *testing.T) {
	res := s.awaitCheck(t, 0)
	if !strings.Contains(res.stdout, "15 answers: 15 ok, 0 disagree, 0 could not be checked.") {
		t.Errorf("check output:\n%s", res.stdout)
	}
}

// testHandEdit stops cluster-2's syncer (else it would undo the edit at once), points its
// ServiceImport web at a wrong IP, and expects check to fail; the syncer's Lease goes stale
// meanwhile; once it runs again, it repairs the import and check passes.
func (s *suite) testHandEdit(t *testing.T) {
	resume := proc.Freeze(t, "cluster-2 syncer", s.st.Syncers[1].Proc.PID())
	c2 := s.env.Clusters[1]
	imports := mcsclient.NewForConfigOrDie(c2.Config).MulticlusterV1alpha1().ServiceImports(ns)
	si, err := imports.Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good := si.Spec.IPs
	si.Spec.IPs = []string{"10.102.250.250"}
	if _, err := imports.Update(context.Background(), si, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := s.awaitCheck(t, 1)
	t.Logf("kubectl clusterset check:\n%s", res.stdout)
	for _, want := range []string{
		fmt.Sprintf("cluster-2: answers 10.102.250.250, want %s (the cluster IPs of the derived Service", good[0]),
		"the ServiceImport's spec.ips 10.102.250.250 differ from the cluster IPs " + good[0],
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, res.stdout)
		}
	}
	st := service(s.status(t), "cli/web")
	wantProblem(t, st, "cluster-2: the import's IPs 10.102.250.250 differ from the cluster IPs "+good[0])

	members := s.awaitMembers(t, "cluster-2's heartbeat stale", func(r inspect.MembersReport) string {
		if m := r.Members[1]; m.Stale != inspect.Yes {
			return fmt.Sprintf("cluster-2 stale=%s, heartbeat %+v", m.Stale, m.Heartbeat)
		}
		return ""
	})
	t.Logf("kubectl clusterset members:\n%s", s.run(t, "members").stdout)
	for i, m := range members.Members {
		if !m.Reachable || m.ClusterID != s.env.Clusters[i].ID || m.ClusterSet != "clusterset-1" || m.SyncerVersion == inspect.Unknown || m.Heartbeat == nil {
			t.Errorf("member %+v: want reachable, its ID, clusterset-1, a version and a heartbeat", m)
		}
		if i != 1 && m.Stale != inspect.No {
			t.Errorf("%s stale=%s, want no", m.Member, m.Stale)
		}
	}

	resume()
	s.awaitCheck(t, 0)
}

// testStoppedAPIServer stops cluster-3's apiserver (SIGSTOP: connections open, nothing
// answers). members reports it unreachable within its timeout; status shows it unreachable,
// and once the syncers find it stale, its endpoints gone from the other clusters.
func (s *suite) testStoppedAPIServer(t *testing.T) {
	proc.Freeze(t, "cluster-3 apiserver", s.env.Clusters[2].APIServerPID())
	const timeout = 2 * time.Second
	res := s.run(t, "members", "-o", "json", "--timeout", timeout.String())
	t.Logf("members took %s with --timeout %s", res.elapsed.Round(time.Millisecond), timeout)
	// Every call is bounded: a stopped apiserver would otherwise hold the command forever.
	if res.elapsed > 3*timeout {
		t.Errorf("members took %s, more than 3 times its timeout", res.elapsed)
	}
	var members inspect.MembersReport
	decode(t, res.stdout, &members)
	t.Logf("kubectl clusterset members:\n%s", s.run(t, "members", "--timeout", timeout.String()).stdout)
	if m := members.Members[2]; m.Reachable || m.Error != "no answer from "+s.env.Clusters[2].Server+" within 2s" || m.Stale != inspect.Unknown {
		t.Errorf("cluster-3: %+v, want unreachable, no answer within 2s", m)
	}
	for _, m := range members.Members[:2] {
		if !m.Reachable {
			t.Errorf("%s unreachable: %s", m.Member, m.Error)
		}
	}

	st := service(awaitStatus(t, s, "cluster-3's endpoints withdrawn", func(r inspect.StatusReport) string {
		st := service(r, "cli/multi")
		for _, c := range []string{"cluster-1", "cluster-2"} {
			if got := endpoints(st, c, "cluster-3"); got != "0/0" {
				return fmt.Sprintf("%s holds %s of cluster-3's endpoints", c, got)
			}
		}
		return ""
	}, "--timeout", timeout.String()), "cli/multi")
	if c := st.Clusters[2]; c.Reachable || c.Import.State != inspect.Unreachable {
		t.Errorf("cluster-3: %+v, want unreachable", c)
	}
	for _, c := range st.Clusters[:2] {
		if got := endpoints(st, c.Cluster, "cluster-1"); c.Import.State != inspect.Imported || got != "1/1" {
			t.Errorf("%s: %+v, want imported with cluster-1's endpoint (1/1), got %s", c.Cluster, c.Import, got)
		}
	}
	wantProblem(t, st, "cluster-3: unreachable, its export and import are unknown: no answer from")
	wantProblem(t, st, "exported by cluster-3 (as the imports record), which could not be read")

	// Nothing disagrees, but cluster-3 cannot be checked.
	res = s.runWith(t, []string{"check", "cli/multi", "--kubeconfig", s.kubeconfig, "--timeout", timeout.String(), "--dns", s.dnsFlag})
	if res.code != 3 || !strings.Contains(res.stdout, "3 answers: 2 ok, 0 disagree, 1 could not be checked.") {
		t.Errorf("check with cluster-3 stopped: exit %d, want 3:\n%s%s", res.code, res.stdout, res.stderr)
	}
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// run runs the CLI over the test's kubeconfig (every context) and fails the test unless it
// exited 0.
func (s *suite) run(t *testing.T, args ...string) result {
	t.Helper()
	res := s.runWith(t, append(args, "--kubeconfig", s.kubeconfig))
	if res.code != 0 {
		t.Fatalf("kubectl clusterset %q: exit %d\n%s%s", args, res.code, res.stdout, res.stderr)
	}
	return res
}

func (s *suite) runWith(t *testing.T, args []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = noProxy(os.Environ())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errOut.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("kubectl clusterset %q: %v", args, err)
	}
	return res
}

func noProxy(env []string) []string {
	return slices.DeleteFunc(env, func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return strings.EqualFold(name, "http_proxy") || strings.EqualFold(name, "https_proxy") || strings.EqualFold(name, "all_proxy")
	})
}

func (s *suite) status(t *testing.T, args ...string) inspect.StatusReport {
	t.Helper()
	var r inspect.StatusReport
	decode(t, s.run(t, append([]string{"status", "-o", "json"}, args...)...).stdout, &r)
	return r
}

// awaitStatus polls status until ready says nothing is missing ("").
func awaitStatus(t *testing.T, s *suite, what string, ready func(inspect.StatusReport) string, args ...string) inspect.StatusReport {
	t.Helper()
	var r inspect.StatusReport
	await(t, what, func() string {
		r = s.status(t, args...)
		return ready(r)
	})
	return r
}

func (s *suite) awaitMembers(t *testing.T, what string, ready func(inspect.MembersReport) string) inspect.MembersReport {
	t.Helper()
	var r inspect.MembersReport
	await(t, what, func() string {
		decode(t, s.run(t, "members", "-o", "json").stdout, &r)
		return ready(r)
	})
	return r
}

// awaitCheck polls check until it exits with code.
func (s *suite) awaitCheck(t *testing.T, code int) result {
	t.Helper()
	var res result
	await(t, fmt.Sprintf("check exits %d", code), func() string {
		res = s.runWith(t, []string{"check", "--kubeconfig", s.kubeconfig, "--dns", s.dnsFlag})
		if res.code != code {
			return fmt.Sprintf("exit %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		return ""
	})
	return res
}

func await(t *testing.T, what string, missing func() string) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		last := missing()
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, converge, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func decode(t *testing.T, out string, into any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), into); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
}

func service(r inspect.StatusReport, key string) *inspect.ServiceStatus {
	for i := range r.Services {
		if r.Services[i].String() == key {
			return &r.Services[i]
		}
	}
	return nil
}

// endpoints is "ready/total" of source's endpoints in cluster's import, "" when not listed.
func endpoints(st *inspect.ServiceStatus, cluster, source string) string {
	for _, c := range st.Clusters {
		if c.Cluster != cluster {
			continue
		}
		for _, e := range c.Import.Endpoints {
			if e.Cluster == source {
				return fmt.Sprintf("%d/%d", e.Ready, e.Total)
			}
		}
	}
	return ""
}

func wantProblem(t *testing.T, st *inspect.ServiceStatus, want string) {
	t.Helper()
	if !slices.ContainsFunc(st.Problems, func(p string) bool { return strings.Contains(p, want) }) {
		t.Errorf("%s: no problem line contains %q:\n%s", st, want, strings.Join(st.Problems, "\n"))
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
