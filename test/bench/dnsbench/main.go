// Command dnsbench compares, side by side on the same apiserver data, the CPU time per query,
// the throughput and the memory cost of the data of three DNS servers for clusterset.local:
//
//   - bin/coredns with the clusterset plugin;
//   - bin/coredns with the stock kubernetes plugin in multicluster mode;
//   - a bare miekg/dns server answering from a map (the practical limit);
//   - with -baseline, a second clusterset plugin from another CoreDNS binary (e.g. a build of
//     the main branch), so that a change is measured against its base in the same run.
//
// It starts one local apiserver (test/localenv), starts the servers on the empty cluster, loads
// what the clusterset syncer would write for N exported services (every other one headless),
// then drives each server with dnsperf on 127.0.0.1 in alternating rounds and reports medians.
// CPU time comes from /proc/<pid>/stat; QPS swings a lot on shared machines, CPU per query less.
// The memory of the data is the growth of anonymous RSS (RssAnon in /proc/<pid>/status): VmRSS
// also counts the pages of the binary's code that loading first runs, which differ between
// processes of the same binary by several MiB and are no data.
//
//	go run ./test/bench/dnsbench [-services 1000] [-rounds 5] [-duration 10s] [-baseline PATH]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
)

func main() {
	var (
		services    = flag.Int("services", 1000, "ServiceImports to load; every other one is headless")
		clusters    = flag.Int("clusters", 2, "source clusters per service")
		endpoints   = flag.Int("endpoints", 5, "ready endpoints per service and source cluster")
		rounds      = flag.Int("rounds", 5, "dnsperf runs per server, alternating between servers")
		duration    = flag.Duration("duration", 10*time.Second, "length of one dnsperf run (whole seconds)")
		clients     = flag.Int("clients", 2, "dnsperf -c")
		outstanding = flag.Int("outstanding", 100, "dnsperf -q")
		settle      = flag.Duration("settle", 10*time.Second, "wait before reading a server's RSS")
		idle        = flag.Duration("idle", 130*time.Second, "also read RSS this long after start and after loading, once Go's forced GC (every 2 minutes) has run; 0 skips")
		coredns     = flag.String("coredns", filepath.Join(binDir(), "coredns"), "CoreDNS built with ./build/coredns")
		baseline    = flag.String("baseline", "", "another CoreDNS built with ./build/coredns whose clusterset plugin runs as a fourth server")
		verbose     = flag.Bool("v", false, "log the local clusterset's steps")

		bare       = flag.Bool("serve-bare", false, "internal: run the bare server")
		kubeconfig = flag.String("kubeconfig", "", "internal: kubeconfig of the bare server")
		listen     = flag.String("listen", "", "internal: address of the bare server")
	)
	flag.Parse()
	if *bare {
		if err := serveBare(*kubeconfig, *listen); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	d := newDataset(*services, *clusters, *endpoints)
	cfg := runConfig{rounds: *rounds, duration: *duration, clients: *clients, outstanding: *outstanding, settle: *settle, idle: *idle, coredns: *coredns, baseline: *baseline, verbose: *verbose}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, d, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dnsbench:", err)
		os.Exit(1)
	}
}

type runConfig struct {
	rounds, clients, outstanding int
	duration, settle, idle       time.Duration
	coredns, baseline            string
	verbose                      bool
}

func binDir() string {
	if d, err := bindir.Dir(); err == nil {
		return d
	}
	return "bin"
}

// measurement is what the bench learns about one server.
type measurement struct {
	// RSS on the empty cluster and with the data, cfg.settle and cfg.idle after the servers
	// started and after the data was loaded.
	emptyRSS, loadedRSS         memory
	emptyIdleRSS, loadedIdleRSS memory
	cpuPerQuery, qps            []float64 // per run, µs and queries/s
}

func run(ctx context.Context, d dataset, cfg runConfig, out io.Writer) error {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		return fmt.Errorf("dnsperf not found (Debian package dnsperf: apt-get install dnsperf)")
	}
	for _, bin := range []string{cfg.coredns, cfg.baseline} {
		if _, err := os.Stat(bin); bin != "" && err != nil {
			return fmt.Errorf("%v (build it: go build -o %s ./build/coredns)", err, bin)
		}
	}
	dir, err := os.MkdirTemp("", "dnsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	opts := localenv.Options{Clusters: 1}
	if cfg.verbose {
		opts.Log = os.Stderr
	}
	logf("starting a local apiserver")
	env, err := localenv.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer env.Stop()
	cl := env.Clusters[0]

	servers, err := startServers(dir, cfg.coredns, cfg.baseline, cl.Kubeconfig)
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	if err != nil {
		return err
	}
	for _, s := range servers {
		// The apex SOA needs synced informers (the bare server answers NXDOMAIN at once).
		if err := s.waitUntil(ctx, "start", zone, dns.TypeSOA, func(r *dns.Msg) bool { return r.Rcode != dns.RcodeServerFailure }); err != nil {
			return err
		}
	}
	empty, emptyIdle, err := readRSSTwice(ctx, servers, time.Now(), cfg)
	if err != nil {
		return err
	}

	logf("loading %d services", d.services)
	start := time.Now()
	if err := load(ctx, kubernetes.NewForConfigOrDie(cl.Config), mcsclient.NewForConfigOrDie(cl.Config), d); err != nil {
		return err
	}
	logf("loaded in %s", time.Since(start).Round(time.Millisecond))
	servers[2].cmd.Process.Signal(syscall.SIGHUP) // the bare server loads on demand
	for _, s := range servers {
		if err := waitLoaded(ctx, s, d); err != nil {
			return err
		}
	}
	loaded, loadedIdle, err := readRSSTwice(ctx, servers, time.Now(), cfg)
	if err != nil {
		return err
	}
	m := make([]measurement, len(servers))
	for i := range m {
		m[i].emptyRSS, m[i].emptyIdleRSS, m[i].loadedRSS, m[i].loadedIdleRSS = empty[i], emptyIdle[i], loaded[i], loadedIdle[i]
	}

	queryFile := filepath.Join(dir, "queries")
	if err := writeQueries(queryFile, d); err != nil {
		return err
	}
	wantNX := nxdomainShare(d.queries())
	for r := range cfg.rounds {
		for k := range servers {
			i := (r + k) % len(servers) // rotate who goes first
			s := servers[i]
			before, err := cpuTime(s.pid())
			if err != nil {
				return err
			}
			res, err := dnsperf(s.port, queryFile, cfg.duration, cfg.clients, cfg.outstanding)
			if err != nil {
				return err
			}
			after, err := cpuTime(s.pid())
			if err != nil {
				return err
			}
			if err := checkRcodes(res, wantNX); err != nil {
				return fmt.Errorf("%s: %v", s.name, err)
			}
			perQuery := float64((after - before).Microseconds()) / float64(res.completed)
			m[i].cpuPerQuery = append(m[i].cpuPerQuery, perQuery)
			m[i].qps = append(m[i].qps, res.qps)
			logf("round %d %-10s %8.0f qps %6.2f µs CPU/query", r+1, s.name, res.qps, perQuery)
		}
	}
	report(out, d, cfg, servers, m)
	return nil
}

// readRSS returns every server's RSS once wait has passed since since.
func readRSS(ctx context.Context, servers []*server, since time.Time, wait time.Duration) ([]memory, error) {
	if err := sleep(ctx, time.Until(since.Add(wait))); err != nil {
		return nil, err
	}
	out := make([]memory, len(servers))
	for i, s := range servers {
		v, err := readMemory(s.pid())
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	logf("read RSS %s after", wait)
	return out, nil
}

// readRSSTwice reads RSS cfg.settle and (unless 0) cfg.idle after since.
func readRSSTwice(ctx context.Context, servers []*server, since time.Time, cfg runConfig) (settled, idle []memory, err error) {
	if settled, err = readRSS(ctx, servers, since, cfg.settle); err != nil || cfg.idle == 0 {
		return settled, make([]memory, len(servers)), err
	}
	idle, err = readRSS(ctx, servers, since, cfg.idle)
	return settled, idle, err
}

// startServers starts clusterset, stock and bare (in this order, which run relies on), then the
// baseline clusterset if there is one.
func startServers(dir, coredns, baseline, kubeconfig string) ([]*server, error) {
	var ports [4]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	var servers []*server
	for _, start := range []func() (*server, error){
		func() (*server, error) {
			return startCoreDNS(coredns, dir, "clusterset", clustersetCorefile(ports[0], kubeconfig), ports[0])
		},
		func() (*server, error) {
			return startCoreDNS(coredns, dir, "stock", stockCorefile(ports[1], kubeconfig), ports[1])
		},
		func() (*server, error) { return startBare(dir, kubeconfig, ports[2]) },
		func() (*server, error) {
			if baseline == "" {
				return nil, nil
			}
			return startCoreDNS(baseline, dir, "baseline", clustersetCorefile(ports[3], kubeconfig), ports[3])
		},
	} {
		s, err := start()
		if err != nil {
			return servers, err
		}
		if s != nil {
			servers = append(servers, s)
		}
	}
	return servers, nil
}

// waitLoaded waits until the server answers the last service of each kind in full.
func waitLoaded(ctx context.Context, s *server, d dataset) error {
	for i := d.services - 1; i >= 0 && i >= d.services-2; i-- {
		want := 1
		if d.headless(i) {
			want = d.clusters * d.endpointsPerCluster
		}
		name := d.serviceName(i) + "." + benchNamespace + ".svc." + zone
		if err := s.waitUntil(ctx, "load "+name, name, dns.TypeA, func(r *dns.Msg) bool { return len(r.Answer) == want }); err != nil {
			return err
		}
	}
	return nil
}

// nxdomainShare is the fraction of queries in the file that must answer NXDOMAIN.
func nxdomainShare(queries []string) float64 {
	n := 0
	for _, q := range queries {
		if strings.HasPrefix(q, "missing-") {
			n++
		}
	}
	return float64(n) / float64(len(queries))
}

// checkRcodes makes sure a server answered what the data holds: NOERROR and NXDOMAIN only, in
// the proportion of the query file (dnsperf cycles through it, so within half a point).
func checkRcodes(r perfResult, wantNX float64) error {
	var total int64
	for code, n := range r.rcodes {
		if code != "NOERROR" && code != "NXDOMAIN" {
			return fmt.Errorf("%d %s answers", n, code)
		}
		total += n
	}
	if total == 0 {
		return fmt.Errorf("no answers")
	}
	if got := float64(r.rcodes["NXDOMAIN"]) / float64(total); got < wantNX-0.005 || got > wantNX+0.005 {
		return fmt.Errorf("%.2f%% NXDOMAIN, want %.2f%%", 100*got, 100*wantNX)
	}
	return nil
}

func report(out io.Writer, d dataset, cfg runConfig, servers []*server, m []measurement) {
	names := map[string]string{
		"clusterset": "clusterset plugin",
		"stock":      "stock kubernetes multicluster",
		"bare":       "bare miekg/dns map",
		"baseline":   "clusterset plugin (-baseline)",
	}
	fmt.Fprintf(out, "\n%d ServiceImports (%d headless), %d endpoints each, on one kube-apiserver; %d alternating dnsperf runs of %s per server (-c %d -q %d), medians.\n\n",
		d.services, d.services/2, d.clusters*d.endpointsPerCluster, cfg.rounds, cfg.duration, cfg.clients, cfg.outstanding)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "server\tCPU µs/query\tQPS\tRSS empty MiB\tRSS loaded MiB\tdata RSS MiB\tdata RSS idle MiB\t\n")
	cpu := make([]float64, len(m))
	data := make([]float64, len(m))
	dataIdle := make([]float64, len(m))
	var vmData, vmDataIdle []float64
	for i, s := range servers {
		cpu[i] = median(m[i].cpuPerQuery)
		d, di := m[i].loadedRSS.minus(m[i].emptyRSS), m[i].loadedIdleRSS.minus(m[i].emptyIdleRSS)
		data[i], dataIdle[i] = mib(d.anon), mib(di.anon)
		vmData, vmDataIdle = append(vmData, mib(d.rss)), append(vmDataIdle, mib(di.rss))
		fmt.Fprintf(tw, "%s\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", names[s.name], cpu[i], median(m[i].qps),
			mib(m[i].emptyRSS.rss), mib(m[i].loadedRSS.rss), data[i], dataIdle[i])
	}
	tw.Flush()
	fmt.Fprintf(out, "\ndata RSS: anonymous RSS (RssAnon) %s after loading minus the same %s after starting; idle: the same, %s after (Go forces a GC every 2 minutes).\n", cfg.settle, cfg.settle, cfg.idle)
	fmt.Fprintf(out, "File pages (the binary's code first run while loading) are left out; with them (VmRSS), clusterset / stock: %.2f, idle %.2f.\n\n", vmData[0]/vmData[1], vmDataIdle[0]/vmDataIdle[1])
	verdict := func(ratio, target float64) string {
		if ratio <= target {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(out, "CPU/query      clusterset / stock: %.2f (target <= 0.70, %s)\n", cpu[0]/cpu[1], verdict(cpu[0]/cpu[1], 0.7))
	fmt.Fprintf(out, "CPU/query      clusterset / bare:  %.2f (target <= 1.20, %s)\n", cpu[0]/cpu[2], verdict(cpu[0]/cpu[2], 1.2))
	fmt.Fprintf(out, "data RSS       clusterset / stock: %.2f (target <= 0.50, %s)\n", data[0]/data[1], verdict(data[0]/data[1], 0.5))
	if cfg.idle > 0 {
		fmt.Fprintf(out, "data RSS idle  clusterset / stock: %.2f (target <= 0.50, %s)\n", dataIdle[0]/dataIdle[1], verdict(dataIdle[0]/dataIdle[1], 0.5))
	}
	if len(servers) > 3 {
		fmt.Fprintf(out, "baseline: CPU/query / stock %.2f, data RSS / stock %.2f", cpu[3]/cpu[1], data[3]/data[1])
		if cfg.idle > 0 {
			fmt.Fprintf(out, ", data RSS idle / stock %.2f", dataIdle[3]/dataIdle[1])
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "\nper run, CPU µs/query:")
	for i, s := range servers {
		fmt.Fprintf(out, "  %-10s %s\n", s.name, joinFloats(m[i].cpuPerQuery))
	}
}

func joinFloats(xs []float64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
