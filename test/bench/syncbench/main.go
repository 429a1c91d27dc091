// Command syncbench measures clusterset-syncer on a localenv clusterset of three real
// apiservers, one syncer process per cluster (pull mode):
//
//   - export-to-ServiceImport latency in every cluster, over -exports exports;
//   - endpoint-change-to-mirrored-slice latency in every cluster;
//   - cold convergence of -services services exported by every cluster with -endpoints
//     endpoints each: time, each syncer's API writes against the minimum needed, peak RSS and
//     CPU seconds;
//   - writes during a periodic resync and after a restart over the converged state (both
//     must be zero).
//
// It prints a table. The numbers depend on the machine: on a shared 2-core machine the
// apiservers, etcd, the syncers and this command compete for the same CPUs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/app"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

type config struct {
	exports, rate, services, endpoints, workers int
	resync                                      time.Duration
}

func main() {
	var cfg config
	flag.IntVar(&cfg.exports, "exports", 200, "exports for the latency measurements")
	flag.IntVar(&cfg.rate, "rate", 20, "exports (and endpoint changes) per second")
	flag.IntVar(&cfg.services, "services", 1000, "services exported by every cluster for the cold convergence")
	flag.IntVar(&cfg.endpoints, "endpoints", 10, "endpoints per service and cluster for the cold convergence")
	flag.DurationVar(&cfg.resync, "resync", 20*time.Second, "the syncers' --resync-period")
	flag.IntVar(&cfg.workers, "workers", 0, "the syncers' --workers (0: their default)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "syncbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	env       *localenv.Env
	cfg       config
	clusters  []*harness.Cluster
	memberDir string
	binary    string
	logDir    string
	syncers   []*harness.Process
	runs      int
}

func run(ctx context.Context, cfg config) (err error) {
	dir, err := os.MkdirTemp("", "syncbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("starting a localenv clusterset of 3 clusters")
	env, err := localenv.Start(ctx, localenv.Options{Clusters: 3})
	if err != nil {
		return err
	}
	defer env.Stop()
	b := &bench{env: env, cfg: cfg, logDir: dir}
	defer func() {
		if err != nil {
			for _, p := range b.syncers {
				logf("%s:\n%s", p.LogPath, p.LogTail(20))
			}
		}
	}()
	for _, c := range env.Clusters {
		c.Config.QPS, c.Config.Burst = 2000, 4000 // the benchmark's own writes are not under test
	}
	if b.clusters, err = harness.Clusters(ctx, env); err != nil {
		return err
	}
	if b.memberDir, err = harness.MemberDir(filepath.Join(dir, "members"), b.clusters); err != nil {
		return err
	}
	logf("building clusterset-syncer")
	if b.binary, err = harness.BuildSyncer(ctx, dir); err != nil {
		return err
	}
	if err := b.startSyncers(ctx); err != nil {
		return err
	}
	defer func() { b.stopSyncers() }()

	baseline, baselineCRD, err := b.baselineLatency(ctx)
	if err != nil {
		return err
	}
	exportLat, err := b.exportLatency(ctx)
	if err != nil {
		return err
	}
	endpointLat, err := b.endpointLatency(ctx)
	if err != nil {
		return err
	}
	cold, err := b.coldConvergence(ctx)
	if err != nil {
		return err
	}
	report(cfg, baseline, baselineCRD, exportLat, endpointLat, cold)
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) startSyncers(ctx context.Context) error {
	b.runs++
	b.syncers = nil
	for _, c := range b.clusters {
		args := append(harness.ProcessArgs(c, app.ModePull, b.memberDir, time.Minute), "--resync-period="+b.cfg.resync.String())
		if b.cfg.workers > 0 {
			args = append(args, fmt.Sprintf("--workers=%d", b.cfg.workers))
		}
		p, err := harness.StartProcess(b.binary, filepath.Join(b.logDir, fmt.Sprintf("%s-%d.log", c.ID, b.runs)), args...)
		if err != nil {
			return err
		}
		b.syncers = append(b.syncers, p)
	}
	for _, p := range b.syncers {
		readyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := p.WaitReady(readyCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("%w\n%s", err, p.LogTail(20))
		}
	}
	return nil
}

func (b *bench) stopSyncers() {
	for _, p := range b.syncers {
		p.Stop()
	}
}

// parallel runs f for 0..n-1 on a few goroutines per cluster.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// createExported creates a Service with one source slice of eps, and (when export) its
// ServiceExport.
func createExported(ctx context.Context, c *harness.Cluster, ns, name string, eps []string, export bool) error {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
	if _, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := c.Kube.DiscoveryV1().EndpointSlices(ns).Create(ctx, sourceSlice(ns, name, eps), metav1.CreateOptions{}); err != nil {
		return err
	}
	if !export {
		return nil
	}
	se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	_, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, se, metav1.CreateOptions{})
	return err
}

func sourceSlice(ns, svc string, eps []string) *discoveryv1.EndpointSlice {
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

// firstSeen records, per cluster, when each key was first observed.
type firstSeen struct {
	mu   sync.Mutex
	seen []map[string]time.Time
}

func newFirstSeen(clusters int) *firstSeen {
	f := &firstSeen{}
	for range clusters {
		f.seen = append(f.seen, map[string]time.Time{})
	}
	return f
}

func (f *firstSeen) see(cluster int, key string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.seen[cluster][key]; !ok {
		f.seen[cluster][key] = at
	}
}

// latencies waits until every key of start has been seen in every cluster and returns the
// delays.
func (f *firstSeen) latencies(ctx context.Context, start map[string]time.Time, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		var out []time.Duration
		missing := 0
		for _, seen := range f.seen {
			for key, t0 := range start {
				if t, ok := seen[key]; ok {
					out = append(out, t.Sub(t0))
				} else {
					missing++
				}
			}
		}
		f.mu.Unlock()
		if missing == 0 {
			return out, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("%d of %d observations missing after %v", missing, len(start)*len(f.seen), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// paced runs f for 0..n-1 at rate per second and returns the start time of each.
func paced(n, rate int, key func(int) string, f func(int) error) (map[string]time.Time, error) {
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

func watch(ctx context.Context, inf cache.SharedIndexInformer, handle func(obj any)) {
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: handle, UpdateFunc: func(_, obj any) { handle(obj) }})
	go inf.RunWithContext(ctx)
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
}

const latencyNS = "latency"

// baselineLatency measures the machine rather than the syncer: how long an object created
// in one cluster takes to reach a watch of that cluster, for a built-in kind (Service) and a
// custom resource (ServiceExport). The syncer's export-to-import path is a ServiceExport watch
// plus two writes in series (derived Service, then the ServiceImport carrying its cluster IP)
// and the ServiceImport watch of the observer.
func (b *bench) baselineLatency(ctx context.Context) (builtin, custom []time.Duration, err error) {
	const ns = "baseline"
	logf("baseline: create -> watch event, %d Services and %d ServiceExports at %d/s", b.cfg.exports, b.cfg.exports, b.cfg.rate)
	c := b.clusters[1]
	if err := c.EnsureNamespace(ctx, ns); err != nil {
		return nil, nil, err
	}
	services, exports := newFirstSeen(1), newFirstSeen(1)
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch(watchCtx, informers.Services(c.Kube, informers.Config{}), func(obj any) {
		if svc, ok := obj.(*corev1.Service); ok && svc.Namespace == ns {
			services.see(0, svc.Name, time.Now())
		}
	})
	watch(watchCtx, informers.ServiceExports(c.MCS, informers.Config{}), func(obj any) {
		if se, ok := obj.(*mcsv1alpha1.ServiceExport); ok && se.Namespace == ns {
			exports.see(0, se.Name, time.Now())
		}
	})
	name := func(i int) string { return fmt.Sprintf("base-%03d", i) }
	start, err := paced(b.cfg.exports, b.cfg.rate, name, func(i int) error {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
		_, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if builtin, err = services.latencies(ctx, start, time.Minute); err != nil {
		return nil, nil, err
	}
	start, err = paced(b.cfg.exports, b.cfg.rate, name, func(i int) error {
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i)}}
		_, err := c.MCS.MulticlusterV1alpha1().ServiceExports(ns).Create(ctx, se, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	custom, err = exports.latencies(ctx, start, time.Minute)
	return builtin, custom, err
}

func (b *bench) exportLatency(ctx context.Context) ([]time.Duration, error) {
	logf("export -> ServiceImport latency: %d exports at %d/s", b.cfg.exports, b.cfg.rate)
	for _, c := range b.clusters {
		if err := c.EnsureNamespace(ctx, latencyNS); err != nil {
			return nil, err
		}
	}
	src := b.clusters[0]
	names := harness.DistinctNames("lat", b.cfg.exports)
	name := func(i int) string { return names[i] }
	if err := parallel(b.cfg.exports, func(i int) error {
		return createExported(ctx, src, latencyNS, name(i), []string{fmt.Sprintf("10.200.%d.%d", i/250, i%250+1)}, false)
	}); err != nil {
		return nil, err
	}
	seen := newFirstSeen(len(b.clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range b.clusters {
		watch(watchCtx, informers.ServiceImports(c.MCS, informers.Config{}), func(obj any) {
			if si, ok := obj.(*mcsv1alpha1.ServiceImport); ok && si.Namespace == latencyNS && len(si.Spec.IPs) > 0 {
				seen.see(ci, si.Name, time.Now())
			}
		})
	}
	start, err := paced(b.cfg.exports, b.cfg.rate, name, func(i int) error {
		se := &mcsv1alpha1.ServiceExport{ObjectMeta: metav1.ObjectMeta{Namespace: latencyNS, Name: name(i)}}
		_, err := src.MCS.MulticlusterV1alpha1().ServiceExports(latencyNS).Create(ctx, se, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return seen.latencies(ctx, start, 2*time.Minute)
}

func (b *bench) endpointLatency(ctx context.Context) ([]time.Duration, error) {
	logf("endpoint change -> mirrored slice latency: %d changes at %d/s", b.cfg.exports, b.cfg.rate)
	src := b.clusters[0]
	seen := newFirstSeen(len(b.clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range b.clusters {
		watch(watchCtx, informers.EndpointSlices(c.Kube, informers.Config{Selector: discoveryv1.LabelManagedBy + "=" + desired.ManagerName}), func(obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Namespace == latencyNS {
				now := time.Now()
				for _, ep := range s.Endpoints {
					seen.see(ci, ep.Addresses[0], now)
				}
			}
		})
	}
	added := func(i int) string { return fmt.Sprintf("10.201.%d.%d", i/250, i%250+1) }
	names := harness.DistinctNames("lat", b.cfg.exports)
	start, err := paced(b.cfg.exports, b.cfg.rate, added, func(i int) error {
		eps := []string{fmt.Sprintf("10.200.%d.%d", i/250, i%250+1), added(i)}
		s := sourceSlice(latencyNS, names[i], eps)
		_, err := src.Kube.DiscoveryV1().EndpointSlices(latencyNS).Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return seen.latencies(ctx, start, 2*time.Minute)
}

// coldResult is the cold convergence measurement.
type coldResult struct {
	duration time.Duration
	// controlPlaneCPU is the CPU time of the apiservers and etcd during the convergence.
	controlPlaneCPU float64
	perSyncer       []syncerUsage
	minimumWrites   int
	resyncWrites    float64
	resyncSyncs     float64
	restartWrites   float64
	restartSyncs    float64
	restartReadyIn  time.Duration
}

type syncerUsage struct {
	cluster string
	writes  float64
	usage   harness.Usage
}

const coldNS = "cold"

func (b *bench) coldConvergence(ctx context.Context) (*coldResult, error) {
	n, e := b.cfg.services, b.cfg.endpoints
	logf("cold convergence: %d clusters x %d services x %d endpoints; creating the sources with the syncers stopped", len(b.clusters), n, e)
	b.stopSyncers()
	names := harness.DistinctNames("cold", n)
	var wg sync.WaitGroup
	errs := make([]error, len(b.clusters))
	for ci, c := range b.clusters {
		if err := c.EnsureNamespace(ctx, coldNS); err != nil {
			return nil, err
		}
		wg.Go(func() {
			errs[ci] = parallel(n, func(i int) error {
				var eps []string
				for j := range e {
					k := i*e + j
					eps = append(eps, fmt.Sprintf("10.%d.%d.%d", 10+ci*10+k/65000, k/250%260, k%250+1))
				}
				return createExported(ctx, c, coldNS, names[i], eps, true)
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	// Converged: in every cluster, n imports from all clusters, 3n mirrored slices of e
	// endpoints, and n exports Ready.
	type progress struct {
		mu             sync.Mutex
		imports, ready map[string]bool
		fullSlices     map[string]bool
	}
	prog := make([]*progress, len(b.clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range b.clusters {
		p := &progress{imports: map[string]bool{}, ready: map[string]bool{}, fullSlices: map[string]bool{}}
		prog[ci] = p
		set := func(m map[string]bool, key string, v bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			m[key] = v
		}
		watch(watchCtx, informers.ServiceImports(c.MCS, informers.Config{}), func(obj any) {
			if si, ok := obj.(*mcsv1alpha1.ServiceImport); ok && si.Namespace == coldNS {
				set(p.imports, si.Name, len(si.Spec.IPs) > 0 && len(si.Status.Clusters) == len(b.clusters))
			}
		})
		watch(watchCtx, informers.EndpointSlices(c.Kube, informers.Config{Selector: discoveryv1.LabelManagedBy + "=" + desired.ManagerName}), func(obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Namespace == coldNS {
				set(p.fullSlices, s.Name, len(s.Endpoints) == e)
			}
		})
		watch(watchCtx, informers.ServiceExports(c.MCS, informers.Config{}), func(obj any) {
			if se, ok := obj.(*mcsv1alpha1.ServiceExport); ok && se.Namespace == coldNS {
				set(p.ready, se.Name, meta.IsStatusConditionTrue(se.Status.Conditions, string(mcsv1alpha1.ServiceExportConditionReady)))
			}
		})
	}
	count := func(m map[string]bool) int {
		k := 0
		for _, v := range m {
			if v {
				k++
			}
		}
		return k
	}
	converged := func() bool {
		for _, p := range prog {
			p.mu.Lock()
			done := count(p.imports) == n && count(p.fullSlices) == len(b.clusters)*n && count(p.ready) == n
			p.mu.Unlock()
			if !done {
				return false
			}
		}
		return true
	}

	controlPlaneCPU := func() float64 {
		sum := 0.0
		for _, p := range b.env.Processes() {
			if u, err := harness.PIDUsage(p.PID); err == nil {
				sum += u.CPUSeconds
			}
		}
		return sum
	}
	cpu0 := controlPlaneCPU()
	logf("starting the syncers")
	started := time.Now()
	if err := b.startSyncers(ctx); err != nil {
		return nil, err
	}
	for !converged() {
		if time.Since(started) > 15*time.Minute || ctx.Err() != nil {
			return nil, fmt.Errorf("not converged after %v", time.Since(started))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := &coldResult{duration: time.Since(started), controlPlaneCPU: controlPlaneCPU() - cpu0}
	// Per target cluster and service: derived Service, ServiceImport, its status, one slice
	// per exporting cluster, and the status of the local export.
	res.minimumWrites = n * (3 + len(b.clusters) + 1)
	if err := b.waitQuiet(ctx); err != nil {
		return nil, err
	}
	for i, p := range b.syncers {
		u, err := p.Usage()
		if err != nil {
			return nil, err
		}
		w, err := p.Writes()
		if err != nil {
			return nil, err
		}
		res.perSyncer = append(res.perSyncer, syncerUsage{cluster: b.clusters[i].ID, writes: w, usage: u})
	}
	logf("converged in %v; watching a resync period", res.duration.Round(time.Millisecond))

	writes0, syncs0, err := b.totals()
	if err != nil {
		return nil, err
	}
	time.Sleep(b.cfg.resync + b.cfg.resync/2)
	if err := b.waitQuiet(ctx); err != nil {
		return nil, err
	}
	writes1, syncs1, err := b.totals()
	if err != nil {
		return nil, err
	}
	res.resyncWrites, res.resyncSyncs = writes1-writes0, syncs1-syncs0

	logf("restarting the syncers over the converged state")
	b.stopSyncers()
	restarted := time.Now()
	if err := b.startSyncers(ctx); err != nil {
		return nil, err
	}
	res.restartReadyIn = time.Since(restarted)
	for {
		if err := b.waitQuiet(ctx); err != nil {
			return nil, err
		}
		w, s, err := b.totals()
		if err != nil {
			return nil, err
		}
		if s >= float64(len(b.clusters)*n) {
			res.restartWrites, res.restartSyncs = w, s
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return res, nil
}

// totals sums writes and reconciles over the syncers.
func (b *bench) totals() (writes, syncs float64, err error) {
	for _, p := range b.syncers {
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

// waitQuiet waits until every syncer's queue is empty.
func (b *bench) waitQuiet(ctx context.Context) error {
	for {
		busy := false
		for _, p := range b.syncers {
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

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func report(cfg config, baseline, baselineCRD, exportLat, endpointLat []time.Duration, cold *coldResult) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("\nsyncbench: 3 clusters (localenv), pull mode, one clusterset-syncer process per cluster\n\n")
	fmt.Printf("%-46s %8s %9s %9s %9s  %s\n", "latency", "samples", "p50", "p99", "max", "target")
	for _, row := range []struct {
		name   string
		d      []time.Duration
		target string
	}{
		{fmt.Sprintf("baseline: Service create -> watch (%d/s)", cfg.rate), baseline, "(the machine)"},
		{fmt.Sprintf("baseline: ServiceExport create -> watch (%d/s)", cfg.rate), baselineCRD, "(the machine)"},
		{fmt.Sprintf("export -> ServiceImport, every cluster (%d/s)", cfg.rate), exportLat, "p99 <= 1 s"},
		{fmt.Sprintf("endpoint change -> mirrored slice (%d/s)", cfg.rate), endpointLat, "p99 <= 500 ms"},
	} {
		fmt.Printf("%-46s %8d %9s %9s %9s  %s\n", row.name, len(row.d), ms(percentile(row.d, 0.5)), ms(percentile(row.d, 0.99)), ms(percentile(row.d, 1)), row.target)
	}
	fmt.Printf("\ncold convergence: 3 clusters x %d services (each exported by every cluster) x %d endpoints: %.1f s\n\n",
		cfg.services, cfg.endpoints, cold.duration.Seconds())
	fmt.Printf("apiservers and etcd meanwhile: %.1f CPU-s (%.2f CPUs busy)\n\n", cold.controlPlaneCPU, cold.controlPlaneCPU/cold.duration.Seconds())
	fmt.Printf("%-10s %10s %10s %12s %12s %10s\n", "syncer", "writes", "minimum", "peak RSS", "RSS now", "CPU-s")
	for _, s := range cold.perSyncer {
		fmt.Printf("%-10s %10.0f %10d %9.0f MiB %9.0f MiB %10.1f\n", s.cluster, s.writes, cold.minimumWrites,
			float64(s.usage.PeakRSSBytes)/(1<<20), float64(s.usage.RSSBytes)/(1<<20), s.usage.CPUSeconds)
	}
	fmt.Printf("\nresync (%v period): %.0f writes over %.0f reconciles (target 0)\n", cfg.resync, cold.resyncWrites, cold.resyncSyncs)
	fmt.Printf("restart over the converged state: ready in %.1f s, %.0f writes over %.0f reconciles (target 0)\n",
		cold.restartReadyIn.Seconds(), cold.restartWrites, cold.restartSyncs)
}
