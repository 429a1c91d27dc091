// Package demo is clusterset's main job on the embedded default: a local
// clusterset of three real apiservers, a syncer and a CoreDNS per cluster, a
// ClusterIP and a headless Service exported from different clusters, and the
// DNS answers a user sees. Smoke mode checks every answer and tears down.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/inspect"
	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/stack"
)

// Namespace is where the demo's Services live, in every cluster.
const Namespace = "demo"

// Options configure a demo run.
type Options struct {
	// Smoke checks the answers, tears down and returns an error on any
	// mismatch, instead of waiting for ctx to end.
	Smoke bool
	// Dir keeps data and logs; empty uses a temp dir removed at the end.
	Dir string
	// Out receives what a user sees.
	Out io.Writer
	// AfterTable, when set, is called in smoke mode right after the ServiceImport table is
	// printed (tests compare what was printed with the live objects).
	AfterTable func(ctx context.Context, env *localenv.Env) error
}

// The demo's workloads: web (ClusterIP, in cluster-1) and db (headless, with
// per-pod hostnames, in cluster-2). Pod IPs are on the flat Pod network.
var (
	webPods = map[string]string{"web-0": "10.244.1.10", "web-1": "10.244.1.11"}
	dbPods  = map[string]string{"db-0": "10.244.2.10"}
)

// Run runs the demo until ctx ends (or, in smoke mode, until the checks end).
func Run(ctx context.Context, o Options) error {
	out := o.Out
	if out == nil {
		out = os.Stdout
	}
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	started := time.Now()

	cli, err := bindir.Find("kubectl-clusterset")
	if err != nil {
		return err
	}

	step("starting a local clusterset: etcd, and a kube-apiserver and kube-controller-manager per cluster")
	env, err := localenv.Start(ctx, localenv.Options{Clusters: 3, ControllerManager: true, Dir: o.Dir, Log: prefixed(out, "    ")})
	if err != nil {
		return err
	}
	defer env.Stop()

	step("starting clusterset-syncer (pull mode) and CoreDNS with the clusterset plugin in every cluster")
	st, err := stack.Start(ctx, env, stack.Options{Log: prefixed(out, "    ")})
	if err != nil {
		return err
	}
	defer st.Stop()

	c1, c2 := env.Clusters[0], env.Clusters[1]
	step("creating namespace %q everywhere; Service web (ClusterIP) in %s, Service db (headless) in %s; Pods made ready", Namespace, c1.ID, c2.ID)
	for _, c := range env.Clusters {
		if err := createNamespace(ctx, c); err != nil {
			return err
		}
	}
	if err := deploy(ctx, c1, "web", false, webPods); err != nil {
		return err
	}
	if err := deploy(ctx, c2, "db", true, dbPods); err != nil {
		return err
	}

	step("exporting both with a ServiceExport")
	for _, e := range []struct {
		c    *localenv.Cluster
		name string
	}{{c1, "web"}, {c2, "db"}} {
		if err := export(ctx, e.c, e.name); err != nil {
			return err
		}
	}

	exported := time.Now()
	dns2 := st.DNS[1]
	checks := []check{
		{"web.demo.svc.clusterset.local", dns.TypeA, importIPs(c2, "web")},
		{"_http._tcp.web.demo.svc.clusterset.local", dns.TypeSRV, fixed("0 100 80 web.demo.svc.clusterset.local.")},
		{"db.demo.svc.clusterset.local", dns.TypeA, fixed(dbPods["db-0"])},
		{"db-0.cluster-2.db.demo.svc.clusterset.local", dns.TypeA, fixed(dbPods["db-0"])},
	}
	for _, ch := range checks {
		if err := ch.await(ctx, dns2.Addr); err != nil {
			return err
		}
	}
	// The table is printed from a consistent view: every cluster holds every import with its
	// exporting cluster recorded, not a moment where the exporter's own status is still empty.
	rows, err := awaitImports(ctx, env, map[string]importWant{
		"web": {mcsv1alpha1.ClusterSetIP, c1.ID}, "db": {mcsv1alpha1.Headless, c2.ID},
	})
	if err != nil {
		return err
	}
	step("all answers in place and every import complete %.1fs after the exports (%.0fs since start)", time.Since(exported).Seconds(), time.Since(started).Seconds())
	printImports(out, rows)
	if o.Smoke && o.AfterTable != nil {
		if err := o.AfterTable(ctx, env); err != nil {
			return err
		}
	}
	kubeconfig := filepath.Join(env.Dir, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	if err := clustersetStatus(ctx, out, cli["kubectl-clusterset"], kubeconfig); err != nil {
		return err
	}
	for _, ch := range checks {
		dig(out, dns2.Addr, ch.name, dns.TypeToString[ch.qtype])
	}
	dig(out, dns2.Addr, "cluster-2.db.demo.svc.clusterset.local", "A") // reserved: NXDOMAIN

	if o.Smoke {
		if err := expectRcode(ctx, dns2.Addr, "cluster-2.db.demo.svc.clusterset.local", dns.TypeA, dns.RcodeNameError); err != nil {
			return err
		}
		step("unexporting web in %s: the name must disappear everywhere", c1.ID)
		if err := mcsclient.NewForConfigOrDie(c1.Config).MulticlusterV1alpha1().ServiceExports(Namespace).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			return err
		}
		for _, d := range st.DNS {
			if err := expectRcode(ctx, d.Addr, "web.demo.svc.clusterset.local", dns.TypeA, dns.RcodeNameError); err != nil {
				return fmt.Errorf("%s: %w", d.Cluster.ID, err)
			}
		}
		step("smoke test passed in %.0fs", time.Since(started).Seconds())
		return nil
	}

	fmt.Fprintf(out, "\nThe clusterset is up. Try, from another shell:\n\n")
	for _, d := range st.DNS {
		host, port, _ := net.SplitHostPort(d.Addr)
		fmt.Fprintf(out, "  dig @%s -p %s web.demo.svc.clusterset.local      # %s's CoreDNS\n", host, port, d.Cluster.ID)
	}
	fmt.Fprintf(out, "\nSee the clusterset (every cluster is a context of %s):\n\n", kubeconfig)
	for _, sub := range []string{"status", "members", "check --dns " + dnsFlag(st)} {
		fmt.Fprintf(out, "  bin/kubectl-clusterset %s --kubeconfig %s\n", sub, kubeconfig)
	}
	fmt.Fprintf(out, "\nExport more: create a Service and a ServiceExport in any cluster, e.g.\n\n")
	fmt.Fprintf(out, "  export KUBECONFIG=%s\n", env.Clusters[2].Kubeconfig)
	fmt.Fprintf(out, "  bin/kubectl -n demo create service clusterip api --tcp=8080:8080\n")
	fmt.Fprintf(out, "  printf 'apiVersion: multicluster.x-k8s.io/v1alpha1\\nkind: ServiceExport\\nmetadata: {name: api, namespace: demo}\\n' | bin/kubectl apply -f -\n")
	fmt.Fprintf(out, "  bin/kubectl get serviceimports -A\n\nLogs are under %s. Press Ctrl-C to stop everything.\n", env.Dir)
	<-ctx.Done()
	step("stopping")
	return nil
}

// clustersetStatus prints `kubectl clusterset status` once it shows nothing wrong: the exports'
// Ready conditions may follow the imports by a moment. It fails if that does not happen.
func clustersetStatus(ctx context.Context, out io.Writer, cli, kubeconfig string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		b, err := exec.CommandContext(ctx, cli, "status", "-o", "json", "--kubeconfig", kubeconfig).CombinedOutput()
		if err != nil {
			last = fmt.Sprintf("%v: %s", err, b)
			return false, nil
		}
		var r inspect.StatusReport
		if err := json.Unmarshal(b, &r); err != nil {
			return false, fmt.Errorf("kubectl clusterset status -o json: %w", err)
		}
		last = string(b)
		for _, s := range r.Services {
			if len(s.Problems) > 0 {
				return false, nil
			}
		}
		return len(r.Services) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("kubectl clusterset status does not come clean: %s", last)
	}
	b, err := exec.CommandContext(ctx, cli, "status", "--kubeconfig", kubeconfig).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl clusterset status: %w: %s", err, b)
	}
	fmt.Fprintf(out, "$ kubectl clusterset status\n")
	_, err = prefixed(out, "  ").Write(b)
	fmt.Fprintln(out)
	return err
}

// dnsFlag is kubectl clusterset check's --dns for the stack's CoreDNS servers.
func dnsFlag(st *stack.Stack) string {
	var parts []string
	for _, d := range st.DNS {
		parts = append(parts, d.Cluster.ID+"="+d.Addr)
	}
	return strings.Join(parts, ",")
}

func createNamespace(ctx context.Context, c *localenv.Cluster) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	_, err := kubernetes.NewForConfigOrDie(c.Config).CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// deploy creates a Service and its Pods, and plays the kubelet for the Pods,
// so that the cluster's real EndpointSlice controller publishes them.
func deploy(ctx context.Context, c *localenv.Cluster, name string, headless bool, pods map[string]string) error {
	kube := kubernetes.NewForConfigOrDie(c.Config)
	labels := map[string]string{"app": name}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
	}
	if _, err := kube.CoreV1().Services(Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return err
	}
	for pod, ip := range pods {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: Namespace, Labels: labels},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: name, Image: "demo/" + name}},
			},
		}
		if headless {
			// Hostname and subdomain give the endpoint its per-pod DNS name.
			p.Spec.Hostname, p.Spec.Subdomain = pod, name
		}
		if _, err := kube.CoreV1().Pods(Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := c.MakePodReady(ctx, Namespace, pod, ip); err != nil {
			return err
		}
	}
	return nil
}

func export(ctx context.Context, c *localenv.Cluster, name string) error {
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace}}
	_, err := mcsclient.NewForConfigOrDie(c.Config).MulticlusterV1alpha1().ServiceExports(Namespace).Create(ctx, se, metav1.CreateOptions{})
	return err
}

// check is one DNS question and the answers it must get. want is evaluated
// on every try, since the expected IPs come from the cluster.
type check struct {
	name  string
	qtype uint16
	want  func(ctx context.Context) ([]string, error)
}

func fixed(values ...string) func(context.Context) ([]string, error) {
	return func(context.Context) ([]string, error) { return values, nil }
}

// importIPs is the ServiceImport's spec.ips in cluster c: what its DNS must
// answer for a ClusterSetIP service.
func importIPs(c *localenv.Cluster, name string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		si, err := mcsclient.NewForConfigOrDie(c.Config).MulticlusterV1alpha1().ServiceImports(Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if len(si.Spec.IPs) == 0 {
			return nil, errors.New("ServiceImport has no IPs yet")
		}
		return si.Spec.IPs, nil
	}
}

// await polls until the answer section holds exactly the wanted values.
func (ch check) await(ctx context.Context, server string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		want, err := ch.want(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		got, rcode, err := query(server, ch.name, ch.qtype)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		slices.Sort(want)
		last = fmt.Sprintf("%s: got %v, want %v", dns.RcodeToString[rcode], got, want)
		return slices.Equal(got, want), nil
	})
	if err != nil {
		return fmt.Errorf("%s %s at %s: %s", ch.name, dns.TypeToString[ch.qtype], server, last)
	}
	return nil
}

func expectRcode(ctx context.Context, server, name string, qtype uint16, rcode int) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		got, rc, err := query(server, name, qtype)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%s %v", dns.RcodeToString[rc], got)
		return rc == rcode, nil
	})
	if err != nil {
		return fmt.Errorf("%s: want %s, got %s", name, dns.RcodeToString[rcode], last)
	}
	return nil
}

// query returns the sorted answer values (A/AAAA addresses, SRV data).
func query(server, name string, qtype uint16) ([]string, int, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	r, err := dns.Exchange(m, server)
	if err != nil {
		return nil, 0, err
	}
	var values []string
	for _, rr := range r.Answer {
		switch rr := rr.(type) {
		case *dns.A:
			values = append(values, rr.A.String())
		case *dns.AAAA:
			values = append(values, rr.AAAA.String())
		case *dns.SRV:
			values = append(values, fmt.Sprintf("%d %d %d %s", rr.Priority, rr.Weight, rr.Port, rr.Target))
		}
	}
	slices.Sort(values)
	return values, r.Rcode, nil
}

// ImportRow is one line of the demo's ServiceImport table.
type ImportRow struct {
	Cluster, Name, Type, IP, ExportedFrom string
}

// importWant is what every cluster's import of one service must show.
type importWant struct {
	importType mcsv1alpha1.ServiceImportType
	exporter   string
}

// ImportRows lists the demo namespace's ServiceImports in every cluster, as the table shows them.
func ImportRows(ctx context.Context, env *localenv.Env) ([]ImportRow, error) {
	var rows []ImportRow
	for _, c := range env.Clusters {
		list, err := mcsclient.NewForConfigOrDie(c.Config).MulticlusterV1alpha1().ServiceImports(Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.ID, err)
		}
		for _, si := range list.Items {
			var from []string
			for _, cl := range si.Status.Clusters {
				from = append(from, cl.Cluster)
			}
			row := ImportRow{Cluster: c.ID, Name: si.Name, Type: string(si.Spec.Type), IP: strings.Join(si.Spec.IPs, ","), ExportedFrom: strings.Join(from, ",")}
			if row.IP == "" {
				row.IP = "-"
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// inconsistency says what keeps rows from showing every wanted import, complete, in every
// cluster, or "" when nothing does.
func inconsistency(rows []ImportRow, clusters []string, want map[string]importWant) string {
	for _, c := range clusters {
		for name, w := range want {
			i := slices.IndexFunc(rows, func(r ImportRow) bool { return r.Cluster == c && r.Name == name })
			switch {
			case i < 0:
				return fmt.Sprintf("%s has no ServiceImport %s yet", c, name)
			case rows[i].Type != string(w.importType):
				return fmt.Sprintf("%s's ServiceImport %s has type %q, want %s", c, name, rows[i].Type, w.importType)
			case rows[i].ExportedFrom != w.exporter:
				return fmt.Sprintf("%s's ServiceImport %s lists exporters %q, want %s", c, name, rows[i].ExportedFrom, w.exporter)
			case w.importType == mcsv1alpha1.ClusterSetIP && rows[i].IP == "-":
				return fmt.Sprintf("%s's ServiceImport %s has no IP yet", c, name)
			}
		}
	}
	return ""
}

// awaitImports polls until every cluster shows every wanted import complete.
func awaitImports(ctx context.Context, env *localenv.Env, want map[string]importWant) ([]ImportRow, error) {
	var clusters []string
	for _, c := range env.Clusters {
		clusters = append(clusters, c.ID)
	}
	var rows []ImportRow
	last := "not listed yet"
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		if rows, err = ImportRows(ctx, env); err != nil {
			last = err.Error()
			return false, nil
		}
		last = inconsistency(rows, clusters, want)
		return last == "", nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for a consistent view of the imports: %s", last)
	}
	return rows, nil
}

// tableHeader opens the printed ServiceImport table; ParseImportTable finds it by this line.
const tableHeader = "ServiceImports (kubectl get serviceimports -n " + Namespace + ", in each cluster):"

func printImports(out io.Writer, rows []ImportRow) {
	fmt.Fprintf(out, "\n%s\n", tableHeader)
	fmt.Fprintf(out, "  %-10s %-5s %-13s %-16s %s\n", "CLUSTER", "NAME", "TYPE", "IP", "EXPORTED FROM")
	for _, r := range rows {
		fmt.Fprintf(out, "  %-10s %-5s %-13s %-16s %s\n", r.Cluster, r.Name, r.Type, r.IP, r.ExportedFrom)
	}
	fmt.Fprintln(out)
}

// ParseImportTable reads the rows back from the demo's output.
func ParseImportTable(output string) ([]ImportRow, error) {
	_, table, ok := strings.Cut(output, tableHeader+"\n")
	if !ok {
		return nil, errors.New("no ServiceImport table in the output")
	}
	lines := strings.Split(table, "\n")
	if len(lines) == 0 || !strings.HasPrefix(strings.TrimSpace(lines[0]), "CLUSTER") {
		return nil, errors.New("the ServiceImport table has no header line")
	}
	var rows []ImportRow
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) == 0 {
			break
		}
		if len(f) != 5 {
			return nil, fmt.Errorf("table line %q: want 5 columns", line)
		}
		rows = append(rows, ImportRow{f[0], f[1], f[2], f[3], f[4]})
	}
	return rows, nil
}

// dig shows the answer as a user would see it: with dig when installed,
// otherwise in dig's answer-section format.
func dig(out io.Writer, server, name, qtype string) {
	host, port, _ := net.SplitHostPort(server)
	fmt.Fprintf(out, "$ dig @%s -p %s %s %s +noall +answer +comments\n", host, port, name, qtype)
	if path, err := exec.LookPath("dig"); err == nil {
		cmd := exec.Command(path, "@"+host, "-p", port, name, qtype, "+noall", "+answer", "+comments", "+tries=1", "+time=2")
		b, err := cmd.CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			// Keep the status line and the records; drop dig's banner noise.
			if strings.Contains(line, "status:") || (line != "" && !strings.HasPrefix(line, ";")) {
				fmt.Fprintf(out, "  %s\n", strings.TrimPrefix(line, ";; "))
			}
		}
		if err != nil {
			fmt.Fprintf(out, "  (dig: %v)\n", err)
		}
	} else {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.StringToType[qtype])
		r, err := dns.Exchange(m, server)
		if err != nil {
			fmt.Fprintf(out, "  %v\n", err)
			return
		}
		fmt.Fprintf(out, "  status: %s\n", dns.RcodeToString[r.Rcode])
		for _, rr := range r.Answer {
			fmt.Fprintf(out, "  %s\n", rr)
		}
	}
	fmt.Fprintln(out)
}

// prefixed indents every line written to w.
func prefixed(w io.Writer, prefix string) io.Writer { return &prefixWriter{w, prefix} }

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
				return 0, err
			}
		}
	}
	return len(b), nil
}
