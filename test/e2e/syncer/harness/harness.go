// Package harness runs clusterset syncers against a localenv clusterset for the syncer's
// end-to-end tests and its benchmark: clients per cluster, the member kubeconfig directory,
// syncers in-process or as clusterset-syncer processes (which can be killed with SIGKILL and
// measured), and reading their write counters.
package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/test/localenv"
	"github.com/clusterset/clusterset/test/proc"
)

// SyncerNamespace holds the syncers' Leases in every cluster.
const SyncerNamespace = "clusterset-system"

// WritesMetric counts a syncer's API writes.
const WritesMetric = metrics.Namespace + "_writes_total"

// Cluster is one localenv cluster with typed clients.
type Cluster struct {
	*localenv.Cluster
	Kube kubernetes.Interface
	MCS  mcsclient.Interface
}

// Clusters wraps every cluster of env and creates SyncerNamespace in each.
func Clusters(ctx context.Context, env *localenv.Env) ([]*Cluster, error) {
	var out []*Cluster
	for _, c := range env.Clusters {
		kube, err := kubernetes.NewForConfig(c.Config)
		if err != nil {
			return nil, err
		}
		mcs, err := mcsclient.NewForConfig(c.Config)
		if err != nil {
			return nil, err
		}
		cl := &Cluster{Cluster: c, Kube: kube, MCS: mcs}
		if err := cl.EnsureNamespace(ctx, SyncerNamespace); err != nil {
			return nil, err
		}
		out = append(out, cl)
	}
	return out, nil
}

// EnsureNamespace creates a namespace unless it exists.
func (c *Cluster) EnsureNamespace(ctx context.Context, name string) error {
	_, err := c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// MemberDir writes the kubeconfig of every cluster into dir, under names unrelated to the
// cluster IDs (the syncer must read IDs from the clusters).
func MemberDir(dir string, clusters []*Cluster) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for i, c := range clusters {
		data, err := os.ReadFile(c.Kubeconfig)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("member-%c.yaml", 'a'+i)), data, 0o600); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// Options returns syncer options for local running against c with members in memberDir,
// without HTTP servers and with a short TTL.
func Options(c *Cluster, mode, memberDir string, ttl time.Duration) app.Options {
	o := app.DefaultOptions()
	o.Mode = mode
	o.MemberKubeconfigs = memberDir
	o.Namespace = SyncerNamespace
	o.MetricsBindAddress, o.HealthProbeBindAddress = "0", "0"
	o.MemberTTL = ttl
	o.LocalConfig = c.Config
	return o
}

// InProcess is a syncer running in this process.
type InProcess struct {
	Metrics *metrics.Metrics
	cancel  context.CancelFunc
	done    chan error
}

// StartInProcess runs app.Run with o until Stop.
func StartInProcess(ctx context.Context, o app.Options) *InProcess {
	ctx, cancel := context.WithCancel(ctx)
	s := &InProcess{Metrics: metrics.New(), cancel: cancel, done: make(chan error, 1)}
	o.Metrics = s.Metrics
	go func() { s.done <- app.Run(ctx, o) }()
	return s
}

// Stop cancels the syncer and returns its error.
func (s *InProcess) Stop() error {
	s.cancel()
	return <-s.done
}

// gather reads the syncer's metrics by name; a registry of well-formed collectors does not
// fail.
func (s *InProcess) gather() map[string]*dto.MetricFamily {
	families, _ := s.Metrics.Registry.Gather()
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	return byName
}

// Writes sums the syncer's API writes, every result included.
func (s *InProcess) Writes() float64 { return sumFamily(s.gather(), WritesMetric) }

// WritesByLabels lists the syncer's nonzero write counters by their labels, for messages.
func (s *InProcess) WritesByLabels() map[string]float64 {
	out := map[string]float64{}
	for _, m := range s.gather()[WritesMetric].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		out[strings.Join(labels, ",")] = m.GetCounter().GetValue()
	}
	return out
}

// Reconciles is the number of reconciles the syncer has run.
func (s *InProcess) Reconciles() uint64 { return Reconciles(s.gather()) }

// QueueDepth is the number of keys waiting in the syncer's queues.
func (s *InProcess) QueueDepth() int { return QueueDepth(s.gather()) }

// Reconciles is the number of reconciles in a syncer's metrics (the writes into each target
// are timed separately).
func Reconciles(families map[string]*dto.MetricFamily) uint64 {
	for _, m := range families[metrics.Namespace+"_sync_duration_seconds"].GetMetric() {
		if Label(m, "lane") == metrics.ReconcileQueue {
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// QueueDepth is the number of keys waiting in a syncer's queues (the reconcile queue and
// every target's lane), from its metrics.
func QueueDepth(families map[string]*dto.MetricFamily) int {
	n := 0.0
	for _, m := range families[metrics.Namespace+"_workqueue_depth"].GetMetric() {
		n += m.GetGauge().GetValue()
	}
	return int(n)
}

// Label returns the value of a metric's label, or "".
func Label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func sumFamily(families map[string]*dto.MetricFamily, name string) float64 {
	sum := 0.0
	for _, m := range families[name].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

// Process is a clusterset-syncer process, run and stopped by test/proc.
type Process struct {
	*proc.Process
	MetricsURL string
	HealthURL  string
}

// StartProcess runs the binary with args plus metrics and health addresses on free
// loopback ports; its output goes to logPath.
func StartProcess(binary, logPath string, args ...string) (*Process, error) {
	ports, err := proc.FreePorts("127.0.0.1", 2)
	if err != nil {
		return nil, err
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	p := &proc.Process{
		Name:    filepath.Base(logPath),
		Bin:     binary,
		Args:    append(args, "--metrics-bind-address="+metricsAddr, "--health-probe-bind-address="+healthAddr),
		LogPath: logPath,
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return &Process{Process: p, MetricsURL: "http://" + metricsAddr + "/metrics", HealthURL: "http://" + healthAddr}, nil
}

// ProcessArgs are the command-line arguments equivalent to Options for a process.
func ProcessArgs(c *Cluster, mode, memberDir string, ttl time.Duration) []string {
	return []string{"--kubeconfig=" + c.Kubeconfig, "--mode=" + mode, "--member-kubeconfigs=" + memberDir,
		"--namespace=" + SyncerNamespace, "--member-ttl=" + ttl.String()}
}

// Stop sends SIGTERM and waits up to 10 s before killing.
func (p *Process) Stop() { p.Process.Stop(10 * time.Second) }

// WaitReady waits until /readyz answers 200, the process exits, or ctx ends.
func (p *Process) WaitReady(ctx context.Context) error {
	return proc.WaitHTTP(ctx, p.Process, p.HealthURL+"/readyz", "", time.Hour)
}

// LogTail returns the last lines of the process's log.
func (p *Process) LogTail(lines int) string { return proc.Tail(p.LogPath, lines) }

// Scrape reads the process's metrics.
func (p *Process) Scrape() (map[string]*dto.MetricFamily, error) {
	client := http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 5 * time.Second}
	resp, err := client.Get(p.MetricsURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// Writes sums the process's API writes.
func (p *Process) Writes() (float64, error) {
	families, err := p.Scrape()
	if err != nil {
		return 0, err
	}
	return sumFamily(families, WritesMetric), nil
}

// Usage is a process's resource use from /proc.
type Usage struct {
	RSSBytes, PeakRSSBytes uint64
	CPUSeconds             float64
}

// Usage reads the process's current and peak RSS and its CPU time.
func (p *Process) Usage() (Usage, error) { return PIDUsage(p.PID()) }

// PIDUsage reads a process's current and peak RSS and its CPU time from /proc.
func PIDUsage(pid int) (Usage, error) {
	var u Usage
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			u.RSSBytes = kb * 1024
		case "VmHWM:":
			u.PeakRSSBytes = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	rest := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(rest[11], 64)
	stime, _ := strconv.ParseFloat(rest[12], 64)
	u.CPUSeconds = (utime + stime) / 100 // USER_HZ is 100 on Linux
	return u, nil
}

// BuildSyncer builds clusterset-syncer into dir, unless $CLUSTERSET_SYNCER names a binary.
func BuildSyncer(ctx context.Context, dir string) (string, error) {
	if bin := os.Getenv("CLUSTERSET_SYNCER"); bin != "" {
		return bin, nil
	}
	out := filepath.Join(dir, "clusterset-syncer")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/clusterset/clusterset/build/syncer")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

// DistinctNames returns n names prefix-<i> whose derived Service names do not collide. The
// Adler-32 of the derived names collides often on such names (prefix-000..prefix-299 give
// about 150 distinct ones), which tests and benchmarks about other things must avoid.
func DistinctNames(prefix string, n int) []string {
	var names []string
	taken := map[string]bool{}
	for i := 0; len(names) < n; i++ {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		if d := desired.DerivedServiceName(name); !taken[d] {
			taken[d] = true
			names = append(names, name)
		}
	}
	return names
}
