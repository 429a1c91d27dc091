package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/clusterset/clusterset/test/bench/syncload"
)

const mib = 1 << 20

// report prints one column per clusterset size, as markdown.
func report(w io.Writer, cfg config, results []*result) {
	fmt.Fprintf(w, "\nscalebench: pull mode, one clusterset-syncer process per cluster; %d services, each exported by every cluster, "+
		"%d endpoints each spread over the clusters; export latency at %d exports/s over %d exports\n\n",
		cfg.services, cfg.endpoints, cfg.rate, cfg.exports)
	header := []string{"", ""}
	for _, r := range results {
		header = append(header, fmt.Sprintf("N=%d", r.clusters))
	}
	header = append(header, "target")
	row := func(name, unit string, cell func(r *result) string, target string) []string {
		out := []string{name, unit}
		for _, r := range results {
			out = append(out, cell(r))
		}
		return append(out, target)
	}
	rows := [][]string{
		row("exports in the clusterset", "", func(r *result) string { return fmt.Sprint(r.clusters * cfg.services) }, ""),
		row("cold convergence", "s", func(r *result) string { return fmt.Sprintf("%.1f", r.cold.Duration.Seconds()) }, ""),
		row("writes / minimum, all syncers", "", func(r *result) string { return fmt.Sprintf("%.3f", r.writeRatios().all) }, "1.0"),
		row("writes / minimum, worst syncer", "", func(r *result) string { return fmt.Sprintf("%.3f", r.writeRatios().worst) }, "1.0"),
		row("syncer RSS after convergence, median / max", "MiB", func(r *result) string {
			return medMax(r.usage(func(s syncload.SyncerUsage) float64 { return float64(s.Usage.RSSBytes) / mib }), "%.0f")
		}, ""),
		row("syncer peak RSS, median / max", "MiB", func(r *result) string {
			return medMax(r.usage(func(s syncload.SyncerUsage) float64 { return float64(s.Usage.PeakRSSBytes) / mib }), "%.0f")
		}, ""),
		row("syncer RSS per member per 1,000 cached services (median)", "MiB", func(r *result) string {
			return fmt.Sprintf("%.1f", r.rssPerMemberPer1000(cfg.services))
		}, ""),
		row("syncer CPU until convergence, median / max", "CPU-s", func(r *result) string {
			return medMax(r.usage(func(s syncload.SyncerUsage) float64 { return s.Usage.CPUSeconds }), "%.1f")
		}, ""),
		row("apiservers + etcd CPU during convergence", "CPU-s", func(r *result) string { return fmt.Sprintf("%.0f", r.cold.ControlPlaneCPU) }, ""),
		row("export → import in every cluster, p50 / p99", "ms", func(r *result) string {
			return fmt.Sprintf("%s / %s", ms(syncload.Percentile(r.exports.ToAll, 0.5).Seconds()), ms(syncload.Percentile(r.exports.ToAll, 0.99).Seconds()))
		}, ""),
		row("reconcile queue wait, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.reconcileWait) }, ""),
		row("reconcile, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.reconcile) }, ""),
		row("lane queue wait, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.laneWait) }, ""),
		row("lane write into the target, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.laneWork) }, ""),
		row("apiserver request, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.apiserver) }, ""),
		row("client rate-limiter wait, p50 / p99", "ms", func(r *result) string { return quantiles(r.split.rateLimiter) }, ""),
		row("reconciles / lane items / requests per export (all syncers)", "", func(r *result) string {
			per := func(n uint64) float64 { return float64(n) / float64(cfg.exports) }
			return fmt.Sprintf("%.1f / %.1f / %.1f", per(r.split.reconcile.Count), per(r.split.laneWork.Count), per(r.split.apiserver.Count))
		}, ""),
		row("syncer CPU per step (reconcile + lane item), mean", "ms", func(r *result) string { return ms(r.split.cpuPerStep()) }, ""),
		row("syncer share of export p99", "ms", func(r *result) string { return ms(r.split.syncerShare()) }, "≤ 50"),
		row("syncer share / export p99", "%", func(r *result) string {
			return fmt.Sprintf("%.0f", 100*r.split.syncerShare()/syncload.Percentile(r.exports.ToAll, 0.99).Seconds())
		}, ""),
	}
	printTable(w, header, rows)
	fmt.Fprintln(w, "\nAn export reaches a target's ServiceImport through that target syncer's reconcile queue and reconcile, then its lane "+
		"queue and the lane's writes (whose requests are the apiserver's time). syncer share = p99 of the reconcile queue wait + p99 of "+
		"the lane queue wait + the syncers' CPU time per step (every syncer's CPU seconds during the latency phase over its lane items). "+
		"Queue quantiles come from histogram deltas over the latency phase, interpolated in buckets as histogram_quantile does. A queue "+
		"wait includes a key re-submitted while its own earlier write is still in flight, which is not on the path of the import's first "+
		"appearance, so the share is an upper estimate.")
	fmt.Fprintln(w, "RSS per member per 1,000 cached services = median syncer RSS / (N × services / 1,000): each syncer caches every member's Services, exports and slices.")
	growth(w, cfg, results)
	fmt.Fprintf(w, "\nwrites per syncer per service during the cold convergence, by kind, verb and result (the minimum: 1 derived Service, 1 ServiceImport, 1 import status, N slices, 1 export status)\n")
	for _, r := range results {
		fmt.Fprintf(w, "- N=%d: %s\n", r.clusters, r.writesPerService(cfg.services))
	}
}

// writesPerService lists the writes of all syncers by kind, verb and result, per syncer and
// service.
func (r *result) writesPerService(services int) string {
	sum := map[string]float64{}
	for _, s := range r.cold.Syncers {
		for k, v := range s.WritesBy {
			sum[k] += v
		}
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		if v := sum[k] / float64(len(r.cold.Syncers)*services); v > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// growth states how the median syncer's RSS grows between the smallest and largest N.
func growth(w io.Writer, cfg config, results []*result) {
	if len(results) < 2 {
		return
	}
	sorted := slices.Clone(results)
	slices.SortFunc(sorted, func(a, b *result) int { return a.clusters - b.clusters })
	lo, hi := sorted[0], sorted[len(sorted)-1]
	if lo.clusters == hi.clusters {
		return
	}
	rss := func(r *result) float64 {
		return median(r.usage(func(s syncload.SyncerUsage) float64 { return float64(s.Usage.RSSBytes) / mib }))
	}
	slope := (rss(hi) - rss(lo)) / float64(hi.clusters-lo.clusters) / (float64(cfg.services) / 1000)
	fmt.Fprintf(w, "median syncer RSS from %d to %d clusters: %.0f → %.0f MiB (×%.2f); %.1f MiB per added member per 1,000 services\n",
		lo.clusters, hi.clusters, rss(lo), rss(hi), rss(hi)/rss(lo), slope)
}

type writeRatios struct{ all, worst float64 }

func (r *result) writeRatios() writeRatios {
	var out writeRatios
	total := 0.0
	for _, s := range r.cold.Syncers {
		total += s.Writes
		out.worst = math.Max(out.worst, s.Writes/float64(r.cold.MinimumWrites))
	}
	out.all = total / float64(r.cold.MinimumWrites*len(r.cold.Syncers))
	return out
}

func (r *result) usage(f func(syncload.SyncerUsage) float64) []float64 {
	var out []float64
	for _, s := range r.cold.Syncers {
		out = append(out, f(s))
	}
	return out
}

func (r *result) rssPerMemberPer1000(services int) float64 {
	rss := median(r.usage(func(s syncload.SyncerUsage) float64 { return float64(s.Usage.RSSBytes) / mib }))
	return rss / (float64(r.clusters*services) / 1000)
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medMax(v []float64, format string) string {
	return fmt.Sprintf(format+" / "+format, median(v), slices.Max(v))
}

func quantiles(h syncload.Histogram) string {
	return ms(h.Quantile(0.5)) + " / " + ms(h.Quantile(0.99))
}

// ms formats seconds as milliseconds; NaN (a histogram the syncers do not serve) as n/a.
func ms(seconds float64) string {
	if math.IsNaN(seconds) {
		return "n/a"
	}
	d := time.Duration(seconds * float64(time.Second))
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1f", seconds*1000)
	}
	return fmt.Sprintf("%.0f", seconds*1000)
}

func printTable(w io.Writer, header []string, rows [][]string) {
	line := func(cells []string) { fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | ")) }
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}
