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
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
	"github.com/clusterset/clusterset/test/bench/syncload"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
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
	*syncload.Run
	cfg config
}

func run(ctx context.Context, cfg config) (err error) {
	dir, binary, cleanup, err := syncload.Workdir(ctx, "syncbench-")
	if err != nil {
		return err
	}
	defer cleanup()
	args := []string{"--resync-period=" + cfg.resync.String()}
	if cfg.workers > 0 {
		args = append(args, fmt.Sprintf("--workers=%d", cfg.workers))
	}
	syncload.Logf("starting a localenv clusterset of 3 clusters")
	r, err := syncload.Start(ctx, 3, binary, dir, args...)
	if err != nil {
		return err
	}
	defer r.Stop()
	defer func() {
		if err != nil {
			r.LogTails()
		}
	}()
	b := &bench{Run: r, cfg: cfg}
	if err := b.StartSyncers(ctx); err != nil {
		return err
	}

	baseline, baselineCRD, err := b.baselineLatency(ctx)
	if err != nil {
		return err
	}
	names := harness.DistinctNames("lat", cfg.exports)
	if err := b.PrepareExports(ctx, latencyNS, names); err != nil {
		return err
	}
	exports, err := b.ExportLatency(ctx, latencyNS, names, cfg.rate)
	if err != nil {
		return err
	}
	exportLat := exports.PerCluster
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

const latencyNS = "latency"

// baselineLatency measures the machine rather than the syncer: how long an object created
// in one cluster takes to reach a watch of that cluster, for a built-in kind (Service) and a
// custom resource (ServiceExport). The syncer's export-to-import path is a ServiceExport watch
// plus two writes in series (derived Service, then the ServiceImport carrying its cluster IP)
// and the ServiceImport watch of the observer.
func (b *bench) baselineLatency(ctx context.Context) (builtin, custom []time.Duration, err error) {
	const ns = "baseline"
	syncload.Logf("baseline: create -> watch event, %d Services and %d ServiceExports at %d/s", b.cfg.exports, b.cfg.exports, b.cfg.rate)
	c := b.Clusters[1]
	if err := c.EnsureNamespace(ctx, ns); err != nil {
		return nil, nil, err
	}
	services, exports := syncload.NewFirstSeen(1), syncload.NewFirstSeen(1)
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	syncload.Watch(watchCtx, informers.Services(c.Kube, informers.Config{}), func(obj any) {
		if svc, ok := obj.(*corev1.Service); ok && svc.Namespace == ns {
			services.See(0, svc.Name, time.Now())
		}
	})
	syncload.Watch(watchCtx, informers.ServiceExports(c.MCS, informers.Config{}), func(obj any) {
		if se, ok := obj.(*mcsv1alpha1.ServiceExport); ok && se.Namespace == ns {
			exports.See(0, se.Name, time.Now())
		}
	})
	name := func(i int) string { return fmt.Sprintf("base-%03d", i) }
	start, err := syncload.Paced(b.cfg.exports, b.cfg.rate, name, func(i int) error {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i)},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}}}}
		_, err := c.Kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if builtin, err = services.Latencies(ctx, start, time.Minute); err != nil {
		return nil, nil, err
	}
	start, err = syncload.Paced(b.cfg.exports, b.cfg.rate, name, func(i int) error {
		return syncload.CreateExport(ctx, c, ns, name(i))
	})
	if err != nil {
		return nil, nil, err
	}
	custom, err = exports.Latencies(ctx, start, time.Minute)
	return builtin, custom, err
}

func (b *bench) endpointLatency(ctx context.Context) ([]time.Duration, error) {
	syncload.Logf("endpoint change -> mirrored slice latency: %d changes at %d/s", b.cfg.exports, b.cfg.rate)
	src := b.Clusters[0]
	seen := syncload.NewFirstSeen(len(b.Clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range b.Clusters {
		syncload.Watch(watchCtx, informers.EndpointSlices(c.Kube, informers.Config{Selector: discoveryv1.LabelManagedBy + "=" + desired.ManagerName}), func(obj any) {
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Namespace == latencyNS {
				now := time.Now()
				for _, ep := range s.Endpoints {
					seen.See(ci, ep.Addresses[0], now)
				}
			}
		})
	}
	// The latency phase gave service i the address PodIP(i); each now gains one more.
	added := func(i int) string { return src.PodIP(b.cfg.exports + i) }
	names := harness.DistinctNames("lat", b.cfg.exports)
	start, err := syncload.Paced(b.cfg.exports, b.cfg.rate, added, func(i int) error {
		eps := []string{src.PodIP(i), added(i)}
		s := syncload.SourceSlice(latencyNS, names[i], eps)
		_, err := src.Kube.DiscoveryV1().EndpointSlices(latencyNS).Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return seen.Latencies(ctx, start, 2*time.Minute)
}

// coldResult is the cold convergence measurement, with the resync and the restart after it.
type coldResult struct {
	*syncload.ColdResult
	resyncWrites   float64
	resyncSyncs    float64
	restartWrites  float64
	restartSyncs   float64
	restartReadyIn time.Duration
}

const coldNS = "cold"

func (b *bench) coldConvergence(ctx context.Context) (*coldResult, error) {
	n, e := b.cfg.services, b.cfg.endpoints
	cold, err := b.Cold(ctx, syncload.ColdLoad{
		Namespace: coldNS,
		Names:     harness.DistinctNames("cold", n),
		Endpoints: func(ci, i int) []string {
			var eps []string
			for j := range e {
				eps = append(eps, b.Clusters[ci].PodIP(i*e+j))
			}
			return eps
		},
	})
	if err != nil {
		return nil, err
	}
	res := &coldResult{ColdResult: cold}
	syncload.Logf("watching a resync period")
	writes0, syncs0, err := b.Totals()
	if err != nil {
		return nil, err
	}
	time.Sleep(b.cfg.resync + b.cfg.resync/2)
	if err := b.WaitQuiet(ctx); err != nil {
		return nil, err
	}
	writes1, syncs1, err := b.Totals()
	if err != nil {
		return nil, err
	}
	res.resyncWrites, res.resyncSyncs = writes1-writes0, syncs1-syncs0

	syncload.Logf("restarting the syncers over the converged state")
	b.StopSyncers()
	restarted := time.Now()
	if err := b.StartSyncers(ctx); err != nil {
		return nil, err
	}
	res.restartReadyIn = time.Since(restarted)
	for {
		if err := b.WaitQuiet(ctx); err != nil {
			return nil, err
		}
		w, s, err := b.Totals()
		if err != nil {
			return nil, err
		}
		if s >= float64(len(b.Clusters)*n) {
			res.restartWrites, res.restartSyncs = w, s
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return res, nil
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
		fmt.Printf("%-46s %8d %9s %9s %9s  %s\n", row.name, len(row.d), ms(syncload.Percentile(row.d, 0.5)), ms(syncload.Percentile(row.d, 0.99)), ms(syncload.Percentile(row.d, 1)), row.target)
	}
	fmt.Printf("\ncold convergence: 3 clusters x %d services (each exported by every cluster) x %d endpoints: %.1f s\n\n",
		cfg.services, cfg.endpoints, cold.Duration.Seconds())
	fmt.Printf("apiservers and etcd meanwhile: %.1f CPU-s (%.2f CPUs busy)\n\n", cold.ControlPlaneCPU, cold.ControlPlaneCPU/cold.Duration.Seconds())
	fmt.Printf("%-10s %10s %10s %12s %12s %10s\n", "syncer", "writes", "minimum", "peak RSS", "RSS now", "CPU-s")
	for _, s := range cold.Syncers {
		fmt.Printf("%-10s %10.0f %10d %9.0f MiB %9.0f MiB %10.1f\n", s.Cluster, s.Writes, cold.MinimumWrites,
			float64(s.Usage.PeakRSSBytes)/(1<<20), float64(s.Usage.RSSBytes)/(1<<20), s.Usage.CPUSeconds)
	}
	fmt.Printf("\nresync (%v period): %.0f writes over %.0f reconciles (target 0)\n", cfg.resync, cold.resyncWrites, cold.resyncSyncs)
	fmt.Printf("restart over the converged state: ready in %.1f s, %.0f writes over %.0f reconciles (target 0)\n",
		cold.restartReadyIn.Seconds(), cold.restartWrites, cold.restartSyncs)
}
