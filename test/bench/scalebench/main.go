// Command scalebench measures how clusterset-syncer grows with the number of clusters. For
// each N of -clusters, in one run with one syncer binary, it starts a localenv clusterset of
// N real apiservers with one clusterset-syncer process per cluster (pull mode) and measures:
//
//   - cold convergence of -services services, each exported by every cluster, whose
//     -endpoints endpoints are spread round-robin over the clusters: time, writes against the
//     minimum, each syncer's RSS and CPU seconds;
//   - the export latency at -rate exports/s (ServiceExport created in one cluster →
//     ServiceImport with IPs present in every cluster), with the syncers' queue wait,
//     reconcile and apiserver request time over the same interval, from their histograms.
//
// It prints a markdown table. On a shared 2-core machine the apiservers, etcd, the syncers
// and this command compete for the same CPUs, so absolute numbers are the machine's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterset/clusterset/test/bench/syncload"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
	"github.com/clusterset/clusterset/test/localenv"
)

type config struct {
	clusters                                 []int
	services, endpoints, exports, rate, work int
}

func main() {
	var cfg config
	var clusters string
	flag.StringVar(&clusters, "clusters", "10,5,3", "clusterset sizes to measure, in this order")
	flag.IntVar(&cfg.services, "services", 300, "services for the cold convergence, each exported by every cluster")
	flag.IntVar(&cfg.endpoints, "endpoints", 10, "endpoints per service, spread round-robin over the clusters (at least the largest N)")
	flag.IntVar(&cfg.exports, "exports", 200, "exports for the latency measurement")
	flag.IntVar(&cfg.rate, "rate", 10, "exports per second for the latency measurement")
	flag.IntVar(&cfg.work, "workers", 0, "the syncers' --workers (0: their default)")
	flag.Parse()
	var err error
	if cfg.clusters, err = parseSizes(clusters, cfg.endpoints); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func parseSizes(list string, endpoints int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > localenv.MaxClusters {
			return nil, fmt.Errorf("-clusters: %q is not a number of clusters from 1 to %d", f, localenv.MaxClusters)
		}
		if n > endpoints {
			return nil, fmt.Errorf("-clusters %d exceeds -endpoints %d: every cluster needs one endpoint of each service", n, endpoints)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-clusters is empty")
	}
	return out, nil
}

func run(ctx context.Context, cfg config) error {
	dir, binary, cleanup, err := syncload.Workdir(ctx, "scalebench-")
	if err != nil {
		return err
	}
	defer cleanup()
	var results []*result
	for _, n := range cfg.clusters {
		res, err := measure(ctx, cfg, n, binary, dir)
		if err != nil {
			return fmt.Errorf("%d clusters: %w", n, err)
		}
		results = append(results, res)
	}
	report(os.Stdout, cfg, results)
	return nil
}

// The latency phase runs long after the cold convergence; a resync inside it would add
// reconciles that no export caused.
const resyncPeriod = time.Hour

func measure(ctx context.Context, cfg config, n int, binary, dir string) (res *result, err error) {
	syncload.Logf("starting a localenv clusterset of %d clusters", n)
	args := []string{"--resync-period=" + resyncPeriod.String()}
	if cfg.work > 0 {
		args = append(args, fmt.Sprintf("--workers=%d", cfg.work))
	}
	r, err := syncload.Start(ctx, n, binary, dir, args...)
	if err != nil {
		return nil, err
	}
	defer r.Stop()
	defer func() {
		if err != nil {
			r.LogTails()
		}
	}()
	res = &result{clusters: n}
	res.cold, err = r.Cold(ctx, syncload.ColdLoad{
		Namespace: "cold",
		Names:     harness.DistinctNames("cold", cfg.services),
		Endpoints: func(ci, i int) []string {
			var eps []string
			for j := ci; j < cfg.endpoints; j += n {
				eps = append(eps, r.Clusters[ci].PodIP(i*cfg.endpoints+j))
			}
			return eps
		},
	})
	if err != nil {
		return nil, err
	}
	const latencyNS = "latency"
	names := harness.DistinctNames("lat", cfg.exports)
	if err := r.PrepareExports(ctx, latencyNS, names); err != nil {
		return nil, err
	}
	if err := settle(ctx, r); err != nil {
		return nil, err
	}
	before, err := r.Scrape()
	if err != nil {
		return nil, err
	}
	cpu0, err := syncerCPU(r)
	if err != nil {
		return nil, err
	}
	res.exports, err = r.ExportLatency(ctx, latencyNS, names, cfg.rate)
	if err != nil {
		return nil, err
	}
	if err := settle(ctx, r); err != nil {
		return nil, err
	}
	after, err := r.Scrape()
	if err != nil {
		return nil, err
	}
	cpu1, err := syncerCPU(r)
	if err != nil {
		return nil, err
	}
	res.split = splitOf(before, after, cpu1-cpu0)
	syncload.Logf("%d clusters: export p99 %v", n, syncload.Percentile(res.exports.ToAll, 0.99).Round(time.Millisecond))
	return res, nil
}

// settle waits for the events of what was just written to reach the syncers' queues, and
// then for the queues to drain, so that a scrape holds all of a phase and nothing of the next.
func settle(ctx context.Context, r *syncload.Run) error {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.WaitQuiet(ctx)
}

// syncerCPU is the CPU time every syncer has used so far.
func syncerCPU(r *syncload.Run) (float64, error) {
	sum := 0.0
	for _, p := range r.Syncers {
		u, err := p.Usage()
		if err != nil {
			return 0, err
		}
		sum += u.CPUSeconds
	}
	return sum, nil
}

type result struct {
	clusters int
	cold     *syncload.ColdResult
	exports  *syncload.ExportLatencies
	split    split
}
