// Package stack runs clusterset's own binaries over a local clusterset: one
// clusterset-syncer (pull mode) and one CoreDNS with the clusterset plugin per
// cluster, as a user deploys them. The demo, its smoke test and the end-to-end
// tests share it.
package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clusterset/clusterset/corefile"
	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
)

// SyncerNamespace holds each syncer's Leases.
const SyncerNamespace = "clusterset-system"

// Options configure a Stack.
type Options struct {
	// BinDir holds clusterset-syncer and coredns; default: $CLUSTERSET_BIN_DIR.
	BinDir string
	// MemberTTL is the syncers' --member-ttl; 0 keeps their default.
	MemberTTL time.Duration
	// TTL is the DNS answers' TTL; 0 keeps the plugin's default.
	TTL int
	// ClusterLocal makes each CoreDNS serve cluster.local too (see DNSOptions).
	ClusterLocal bool
	// DNSMetrics makes each CoreDNS serve /metrics (see DNSOptions).
	DNSMetrics bool
	// SyncerArgs are added to every syncer's command line.
	SyncerArgs []string
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// Stack is a syncer and a CoreDNS per cluster of a local clusterset.
type Stack struct {
	Env     *localenv.Env
	Syncers []*Syncer
	DNS     []*DNS
	// MembersDir is the member kubeconfig directory every syncer polls.
	MembersDir string

	opts Options
	bin  string
	dir  string
}

// Syncer is one running clusterset-syncer.
type Syncer struct {
	Cluster *localenv.Cluster
	Proc    *proc.Process
	Metrics string // http://host:port/metrics
	Health  string // http://host:port
}

// DNS is one running CoreDNS serving clusterset.local for a cluster.
type DNS struct {
	Cluster  *localenv.Cluster
	Proc     *proc.Process
	Addr     string // host:port answering DNS over UDP and TCP
	Corefile string // path of its Corefile
	Metrics  string // http://host:port/metrics with DNSOptions.Metrics, else empty
}

// Start runs a syncer and a CoreDNS for every cluster of env and returns when
// all are ready. On error, what it started is stopped.
func Start(ctx context.Context, env *localenv.Env, o Options) (s *Stack, err error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	bin := o.BinDir
	if bin == "" {
		var err error
		if _, err = bindir.Find("clusterset-syncer", "coredns"); err != nil {
			return nil, err
		}
		if bin, err = bindir.Dir(); err != nil {
			return nil, err
		}
	}
	for _, b := range []string{"clusterset-syncer", "coredns"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %q: run `make build` (or set CLUSTERSET_BIN_DIR)", b, bin)
		}
	}
	s = &Stack{Env: env, opts: o, bin: bin, dir: filepath.Join(env.Dir, "stack")}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	members := filepath.Join(s.dir, "members")
	s.MembersDir = members
	if err := os.MkdirAll(members, 0o755); err != nil {
		return s, err
	}
	// Every syncer gets the same member list, itself included, as the syncer
	// allows; file names do not matter, the IDs come from ClusterProperties.
	for _, c := range env.Clusters {
		if err := os.Symlink(c.Kubeconfig, filepath.Join(members, c.ID+".kubeconfig")); err != nil {
			return s, err
		}
	}
	for i, c := range env.Clusters {
		if err := ensureNamespace(ctx, c, SyncerNamespace); err != nil {
			return s, err
		}
		sy, err := s.startSyncer(ctx, c, members)
		if err != nil {
			return s, err
		}
		s.Syncers = append(s.Syncers, sy)
		d, err := StartDNS(ctx, DNSOptions{
			Cluster: c, BinDir: bin, Dir: filepath.Join(s.dir, c.ID),
			Bind: fmt.Sprintf("127.0.0.%d", 10+i), TTL: o.TTL, ClusterLocal: o.ClusterLocal, Metrics: o.DNSMetrics,
		})
		if err != nil {
			return s, err
		}
		fmt.Fprintf(o.Log, "%s: clusterset-syncer (pid %d) and coredns at %s (pid %d) ready\n", c.ID, sy.Proc.PID(), d.Addr, d.Proc.PID())
		s.DNS = append(s.DNS, d)
	}
	return s, nil
}

func (s *Stack) startSyncer(ctx context.Context, c *localenv.Cluster, members string) (*Syncer, error) {
	ports, err := proc.FreePorts("127.0.0.1", 2)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, c.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sy := &Syncer{
		Cluster: c,
		Metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]),
		Health:  fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	args := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--member-kubeconfigs=" + members,
		"--namespace=" + SyncerNamespace,
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[1]),
	}
	if s.opts.MemberTTL > 0 {
		args = append(args, "--member-ttl="+s.opts.MemberTTL.String())
	}
	args = append(args, s.opts.SyncerArgs...)
	sy.Proc = &proc.Process{
		Name:    c.ID + "/clusterset-syncer",
		Bin:     filepath.Join(s.bin, "clusterset-syncer"),
		Args:    args,
		LogPath: filepath.Join(dir, "clusterset-syncer.log"),
	}
	if err := sy.Proc.Start(); err != nil {
		return nil, err
	}
	return sy, proc.WaitHTTP(ctx, sy.Proc, sy.Health+"/readyz", "", time.Minute)
}

// DNSOptions describe one CoreDNS with the clusterset plugin.
type DNSOptions struct {
	Cluster *localenv.Cluster
	BinDir  string
	Dir     string // for the Corefile and the log
	Bind    string // address to serve on, e.g. 127.0.0.11
	// Kubeconfig overrides the cluster's (e.g. one reachable from a netns).
	Kubeconfig string
	TTL        int
	// ClusterLocal serves the cluster's own zones as a cluster's CoreDNS does: a root server block
	// with the stock kubernetes plugin for cluster.local and the reverse zones, into which
	// corefile.Patch adds the clusterset directive (server mode). Otherwise the server serves
	// clusterset.local alone (corefile.Local).
	ClusterLocal bool
	// Metrics adds the prometheus plugin, serving /metrics on a free port of Bind.
	Metrics bool
	// Wrap prefixes the command line, e.g. ip netns exec NAME.
	Wrap []string
}

// StartDNS runs bin/coredns with a Corefile from the corefile package and
// waits until its ready endpoint answers, which the plugin holds back until
// its informers have synced.
func StartDNS(ctx context.Context, o DNSOptions) (*DNS, error) {
	ports, err := proc.FreePorts(o.Bind, 3)
	if err != nil {
		return nil, err
	}
	var metrics string
	if o.Metrics {
		metrics = net.JoinHostPort(o.Bind, strconv.Itoa(ports[2]))
	}
	kubeconfig := o.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = o.Cluster.Kubeconfig
	}
	ready := net.JoinHostPort(o.Bind, strconv.Itoa(ports[1]))
	cs := corefile.Clusterset{Zone: corefile.DefaultZone, Kubeconfig: kubeconfig, TTL: o.TTL}
	var conf []byte
	if o.ClusterLocal {
		conf, err = corefile.Patch(clusterLocalCorefile(o.Bind, ports[0], ready, metrics, kubeconfig),
			corefile.PatchOptions{Mode: corefile.ModeServer, Clusterset: cs})
	} else {
		conf, err = corefile.Local(corefile.LocalOptions{Clusterset: cs, Bind: o.Bind, Port: ports[0], Ready: ready, Prometheus: metrics})
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	d := &DNS{
		Cluster:  o.Cluster,
		Addr:     net.JoinHostPort(o.Bind, strconv.Itoa(ports[0])),
		Corefile: filepath.Join(o.Dir, "Corefile"),
	}
	if metrics != "" {
		d.Metrics = "http://" + metrics + "/metrics"
	}
	if err := os.WriteFile(d.Corefile, conf, 0o644); err != nil {
		return nil, err
	}
	cmd := append(append([]string{}, o.Wrap...), filepath.Join(o.BinDir, "coredns"), "-conf", d.Corefile)
	d.Proc = &proc.Process{
		Name:    o.Cluster.ID + "/coredns",
		Bin:     cmd[0],
		Args:    cmd[1:],
		LogPath: filepath.Join(o.Dir, "coredns.log"),
	}
	if err := d.Proc.Start(); err != nil {
		return nil, err
	}
	if len(o.Wrap) > 0 {
		// Its ready endpoint is inside the wrapper's namespace; the caller
		// checks readiness from there.
		return d, nil
	}
	if err := proc.WaitHTTP(ctx, d.Proc, "http://"+ready+"/ready", "", time.Minute); err != nil {
		d.Proc.Stop(5 * time.Second)
		return nil, err
	}
	return d, nil
}

// clusterLocalCorefile is a kubeadm-style root server block (without forward and loop: these tests
// send nothing off the machine) whose kubernetes plugin reads the cluster through kubeconfig. A
// non-empty metrics adds the prometheus plugin listening there.
func clusterLocalCorefile(bind string, port int, ready, metrics, kubeconfig string) []byte {
	prometheus := ""
	if metrics != "" {
		prometheus = "\n    prometheus " + metrics
	}
	return fmt.Appendf(nil, `.:%d {
    bind %s
    errors
    ready %s%s
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %q
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
}
`, port, bind, ready, prometheus, kubeconfig)
}

// Stop stops every syncer and CoreDNS, by PID.
func (s *Stack) Stop() {
	for _, d := range s.DNS {
		d.Proc.Stop(5 * time.Second)
	}
	for _, sy := range s.Syncers {
		sy.Proc.Stop(5 * time.Second)
	}
}

func ensureNamespace(ctx context.Context, c *localenv.Cluster, name string) error {
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	_, err = kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
