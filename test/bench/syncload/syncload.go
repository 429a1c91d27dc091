// Package syncload is what the syncer benchmarks share: a localenv clusterset with one
// clusterset-syncer process per cluster (pull mode), exported sources created in bulk or at a
// pace, watches that record when objects first appear, cold convergence, and the syncers'
// metrics and resource use.
package syncload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

// Run is a localenv clusterset and its syncer processes.
type Run struct {
	Env      *localenv.Env
	Clusters []*harness.Cluster
	// Syncers are the running syncers, one per cluster in the order of Clusters.
	Syncers []*harness.Process

	memberDir  string
	binary     string
	logDir     string
	syncerArgs []string
	starts     int
}

// Start brings up a clusterset of n clusters whose syncers run binary with syncerArgs added
// to the pull-mode arguments. Logs and member kubeconfigs go under dir. The syncers are not
// started yet.
func Start(ctx context.Context, n int, binary, dir string, syncerArgs ...string) (r *Run, err error) {
	env, err := localenv.Start(ctx, localenv.Options{Clusters: n})
	if err != nil {
		return nil, err
	}
	r = &Run{Env: env, binary: binary, logDir: dir, syncerArgs: syncerArgs}
	defer func() {
		if err != nil {
			r.Stop()
		}
	}()
	for _, c := range env.Clusters {
		c.Config.QPS, c.Config.Burst = 2000, 4000 // the benchmark's own writes are not under test
	}
	if r.Clusters, err = harness.Clusters(ctx, env); err != nil {
		return r, err
	}
	r.memberDir, err = harness.MemberDir(filepath.Join(dir, fmt.Sprintf("members-%d", n)), r.Clusters)
	return r, err
}

// Stop stops the syncers and the clusterset. It is safe to call more than once.
func (r *Run) Stop() {
	r.StopSyncers()
	if r.Env != nil {
		if err := r.Env.Stop(); err != nil {
			Logf("localenv stop: %v", err)
		}
	}
}

// LogTails prints the end of every syncer's log, for a failed run.
func (r *Run) LogTails() {
	for _, p := range r.Syncers {
		Logf("%s:\n%s", p.LogPath, p.LogTail(20))
	}
}

// StartSyncers starts one syncer per cluster and waits until each is ready.
func (r *Run) StartSyncers(ctx context.Context) error {
	r.starts++
	r.Syncers = nil
	for _, c := range r.Clusters {
		args := append(harness.ProcessArgs(c, app.ModePull, r.memberDir, time.Minute), r.syncerArgs...)
		log := filepath.Join(r.logDir, fmt.Sprintf("%d-%s-%d.log", len(r.Clusters), c.ID, r.starts))
		p, err := harness.StartProcess(r.binary, log, args...)
		if err != nil {
			return err
		}
		r.Syncers = append(r.Syncers, p)
	}
	for _, p := range r.Syncers {
		readyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := p.WaitReady(readyCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("%w\n%s", err, p.LogTail(20))
		}
	}
	return nil
}

// StopSyncers stops the running syncers.
func (r *Run) StopSyncers() {
	for _, p := range r.Syncers {
		p.Stop()
	}
}

// Totals sums writes and reconciles over the syncers.
func (r *Run) Totals() (writes, syncs float64, err error) {
	for _, p := range r.Syncers {
		families, err := p.Scrape()
		if err != nil {
			return 0, 0, err
		}
		w, err := p.Writes()
		if err != nil {
			return 0, 0, err
		}
		writes += w
		syncs += float64(harness.Reconciles(families))
	}
	return writes, syncs, nil
}

// WaitQuiet waits until every syncer's queue is empty.
func (r *Run) WaitQuiet(ctx context.Context) error {
	for {
		busy := false
		for _, p := range r.Syncers {
			families, err := p.Scrape()
			if err != nil {
				return err
			}
			if harness.QueueDepth(families) > 0 {
				busy = true
			}
		}
		if !busy {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ControlPlaneCPU is the CPU time the apiservers and etcd have used so far.
func (r *Run) ControlPlaneCPU() float64 {
	sum := 0.0
	for _, p := range r.Env.Processes() {
		if u, err := harness.PIDUsage(p.PID); err == nil {
			sum += u.CPUSeconds
		}
	}
	return sum
}

// Workdir makes a temporary directory for a benchmark run and builds clusterset-syncer into
// it; cleanup removes the directory.
func Workdir(ctx context.Context, prefix string) (dir, binary string, cleanup func(), err error) {
	if dir, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	Logf("building clusterset-syncer")
	if binary, err = harness.BuildSyncer(ctx, dir); err != nil {
		cleanup()
		return "", "", nil, err
	}
	return dir, binary, cleanup, nil
}

// Logf prints a timestamped progress line to stderr.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Parallel runs f for 0..n-1 on 16 goroutines and returns the first error.
func Parallel(n int, f func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

// CreateExported creates a Service with one source slice of eps, and (when export) its
// ServiceExport.
func CreateExported(ctx context.Context, c *harness.Cluster, ns, name string, eps []string, export bool) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
	if _, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, SourceSlice(ns, name, eps), metav1.CreateOptions{}); err != nil {
		return err
	}
	if !export {
		return nil
	}
	return CreateExport(ctx, c, ns, name)
}

// CreateExport creates the ServiceExport ns/name.
func CreateExport(ctx context.Context, c *harness.Cluster, ns, name string) error {
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	_, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, se, metav1.CreateOptions{})
	return err
}

// SourceSlice is the EndpointSlice ns/<svc>-src of the Service svc with one ready endpoint
// per address.
func SourceSlice(ns, svc string, eps []string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: svc + "-src", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To[int32](8080)}},
	}
	for _, ip := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return s
}

// FirstSeen records, per cluster, when each key was first observed.
type FirstSeen struct {
	mu   sync.Mutex
	seen []map[string]time.Time
}

// NewFirstSeen records for the given number of clusters.
func NewFirstSeen(clusters int) *FirstSeen {
	f := &FirstSeen{}
	for range clusters {
		f.seen = append(f.seen, map[string]time.Time{})
	}
	return f
}

// See records key in cluster at the given time, unless it was seen before.
func (f *FirstSeen) See(cluster int, key string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.seen[cluster][key]; !ok {
		f.seen[cluster][key] = at
	}
}

// Latencies waits until every key of start has been seen in every cluster and returns the
// delays, one per key and cluster.
func (f *FirstSeen) Latencies(ctx context.Context, start map[string]time.Time, timeout time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	err := f.wait(ctx, start, timeout, func(_ string, perCluster []time.Duration) { out = append(out, perCluster...) })
	return out, err
}

// LatenciesToAll waits like Latencies and returns, per key, the delay until it had been seen
// in every cluster.
func (f *FirstSeen) LatenciesToAll(ctx context.Context, start map[string]time.Time, timeout time.Duration) ([]time.Duration, error) {
	var out []time.Duration
	err := f.wait(ctx, start, timeout, func(_ string, perCluster []time.Duration) { out = append(out, slices.Max(perCluster)) })
	return out, err
}

func (f *FirstSeen) wait(ctx context.Context, start map[string]time.Time, timeout time.Duration, collect func(key string, perCluster []time.Duration)) error {
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		missing := 0
		for _, seen := range f.seen {
			for key := range start {
				if _, ok := seen[key]; !ok {
					missing++
				}
			}
		}
		if missing == 0 {
			for key, t0 := range start {
				var perCluster []time.Duration
				for _, seen := range f.seen {
					perCluster = append(perCluster, seen[key].Sub(t0))
				}
				collect(key, perCluster)
			}
		}
		f.mu.Unlock()
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%d of %d observations missing after %v", missing, len(start)*len(f.seen), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Paced runs f for 0..n-1 at rate per second and returns the start time of each, by key.
func Paced(n, rate int, key func(int) string, f func(int) error) (map[string]time.Time, error) {
	start := map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		start[key(i)] = time.Now()
		if err := f(i); err != nil {
			return nil, err
		}
	}
	return start, nil
}

// Watch runs inf until ctx ends, calling handle on every added or updated object, and
// returns once its cache has synced.
func Watch(ctx context.Context, inf cache.SharedIndexInformer, handle func(obj any)) {
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, obj any) { handle(obj) }})
	go inf.RunWithContext(ctx)
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
}

// Percentile is the p-quantile (0..1) of d by rank; d must not be empty.
func Percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// Scrape reads every syncer's metrics.
func (r *Run) Scrape() ([]map[string]*dto.MetricFamily, error) {
	var out []map[string]*dto.MetricFamily
	for _, p := range r.Syncers {
		families, err := p.Scrape()
		if err != nil {
			return nil, err
		}
		out = append(out, families)
	}
	return out, nil
}
