// Command promrules checks Prometheus alerting and recording rules, and the queries of a Grafana
// dashboard, against metrics scraped from running processes, with Prometheus's own code: the
// rule file parser (model/rulefmt), the PromQL parser and engine, the scrape parser
// (model/textparse), the TSDB, and the alerting rule's pending/firing logic (rules).
//
// Usage:
//
//	promrules -rules FILE [-dashboard FILE] [-at TIME] [-interval D] [-json] -scrape SPEC...
//
// Each -scrape SPEC is "job=J,instance=I,time=T,file=PATH": the exposition text one scrape of
// target (J, I) returned at time T (RFC 3339 or Unix milliseconds). Without file= the scrape
// failed. As Prometheus does for every scrape, each sample gets the job and instance labels,
// up{job,instance} is 1 (0 for a failed scrape), and a series that a target's previous scrape
// had and this one has not is marked stale.
//
// The rule file is a Prometheus rule file (groups: ...) or a PrometheusRule object, whose
// spec is one. For every rule, promrules reports whether it parsed, every metric name its
// expression selects and whether the scrapes have it, the series the expression returns at
// -at (default: the last scrape), and, for an alert, its state (inactive, pending, firing)
// after the rule was evaluated every -interval from the first scrape to -at, as the rule
// manager does. Dashboard queries are parsed (Grafana's $__rate_interval, $__interval and
// $__range become 5m, 1m and 1h, any other $variable the regexp .*) and evaluated at -at.
//
// The exit status is 1 when a rule file, rule or dashboard query does not parse.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
	"go.yaml.in/yaml/v3"
)

func main() {
	var (
		rulesFile, dashboardFile, at string
		interval                     time.Duration
		asJSON                       bool
		scrapes                      scrapeList
	)
	flag.StringVar(&rulesFile, "rules", "", "rule file or PrometheusRule YAML")
	flag.StringVar(&dashboardFile, "dashboard", "", "Grafana dashboard JSON whose queries to check")
	flag.StringVar(&at, "at", "", "evaluation time, RFC 3339 or Unix ms (default: the last scrape)")
	flag.DurationVar(&interval, "interval", 30*time.Second, "rule evaluation interval for the alert states")
	flag.BoolVar(&asJSON, "json", false, "print the report as JSON")
	flag.Var(&scrapes, "scrape", "job=J,instance=I,time=T[,file=PATH]; repeat")
	flag.Parse()
	if rulesFile == "" || len(scrapes) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	rep, err := run(rulesFile, dashboardFile, at, interval, scrapes)
	if err != nil {
		fmt.Fprintln(os.Stderr, "promrules:", err)
		os.Exit(2)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		rep.print(os.Stdout)
	}
	if !rep.OK {
		os.Exit(1)
	}
}

// scrape is one scrape of one target.
type scrape struct {
	Job, Instance string
	Time          time.Time
	File          string // empty: the scrape failed
}

type scrapeList []scrape

func (l *scrapeList) String() string { return fmt.Sprint(len(*l)) }

func (l *scrapeList) Set(spec string) error {
	var s scrape
	for kv := range strings.SplitSeq(spec, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "job":
			s.Job = v
		case "instance":
			s.Instance = v
		case "file":
			s.File = v
		case "time":
			t, err := parseTime(v)
			if err != nil {
				return err
			}
			s.Time = t
		default:
			return fmt.Errorf("unknown key %q in %q", k, spec)
		}
	}
	if s.Job == "" || s.Instance == "" || s.Time.IsZero() {
		return fmt.Errorf("%q: job, instance and time are required", spec)
	}
	*l = append(*l, s)
	return nil
}

func parseTime(v string) (time.Time, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

// Report is what promrules found.
type Report struct {
	OK         bool          `json:"ok"`
	At         time.Time     `json:"at"`
	FileErrors []string      `json:"fileErrors,omitempty"`
	Rules      []RuleReport  `json:"rules"`
	Dashboard  []QueryReport `json:"dashboard,omitempty"`
}

// RuleReport is one rule's result.
type RuleReport struct {
	Group string `json:"group"`
	// Alert or Record names the rule.
	Alert  string `json:"alert,omitempty"`
	Record string `json:"record,omitempty"`
	For    string `json:"for,omitempty"`
	QueryReport
	// State is the alert's state after evaluating it every interval up to At.
	State string `json:"state,omitempty"`
}

// QueryReport is one expression's result.
type QueryReport struct {
	Title   string              `json:"title,omitempty"` // dashboard panels only
	Expr    string              `json:"expr"`
	Error   string              `json:"error,omitempty"`
	Metrics map[string]bool     `json:"metrics"` // selected metric name: present in the scrapes
	Series  []map[string]string `json:"series"`  // the result at At, labels with the value as "__value__"
}

func run(rulesFile, dashboardFile, at string, interval time.Duration, scrapes []scrape) (*Report, error) {
	slices.SortStableFunc(scrapes, func(a, b scrape) int { return a.Time.Compare(b.Time) })
	evalAt := scrapes[len(scrapes)-1].Time
	if at != "" {
		t, err := parseTime(at)
		if err != nil {
			return nil, err
		}
		evalAt = t
	}
	dir, err := os.MkdirTemp("", "promrules")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = 0
	db, err := tsdb.Open(dir, nil, nil, opts, tsdb.NewDBStats())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	names, err := load(db, scrapes)
	if err != nil {
		return nil, err
	}
	e := evaluator{
		engine: promql.NewEngine(promql.EngineOpts{
			MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
			EnableAtModifier: true, EnableNegativeOffset: true,
		}),
		db: db, names: names, at: evalAt,
	}
	rep := &Report{OK: true, At: evalAt}
	groups, errs := parseRules(rulesFile)
	for _, err := range errs {
		rep.OK = false
		rep.FileErrors = append(rep.FileErrors, err.Error())
	}
	if groups != nil {
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				rr := e.rule(g, r, scrapes[0].Time, interval)
				rep.OK = rep.OK && rr.Error == ""
				rep.Rules = append(rep.Rules, rr)
			}
		}
	}
	if dashboardFile != "" {
		qs, err := dashboardQueries(dashboardFile)
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			qr := e.query(q.title, q.expr)
			rep.OK = rep.OK && qr.Error == ""
			rep.Dashboard = append(rep.Dashboard, qr)
		}
	}
	return rep, nil
}

// load appends the scrapes to db as Prometheus's scrape loop would, and returns the metric
// names seen.
func load(db *tsdb.DB, scrapes []scrape) (map[string]bool, error) {
	names := map[string]bool{}
	last := map[[2]string]map[string]labels.Labels{} // target: series of its previous scrape
	for _, s := range scrapes {
		target := labels.FromStrings(model.JobLabel, s.Job, model.InstanceLabel, s.Instance)
		now := map[string]labels.Labels{}
		up := 0.0
		if s.File != "" {
			b, err := os.ReadFile(s.File)
			if err != nil {
				return nil, err
			}
			samples, err := parseExposition(b, target)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.File, err)
			}
			up = 1
			app := db.Appender(context.Background())
			for _, smp := range samples {
				if _, err := app.Append(0, smp.labels, s.Time.UnixMilli(), smp.value); err != nil {
					_ = app.Rollback()
					return nil, fmt.Errorf("%s: %s: %w", s.File, smp.labels, err)
				}
				now[smp.labels.String()] = smp.labels
				names[smp.labels.Get(model.MetricNameLabel)] = true
			}
			if err := app.Commit(); err != nil {
				return nil, err
			}
		}
		app := db.Appender(context.Background())
		upLabels := labels.NewBuilder(target).Set(model.MetricNameLabel, "up").Labels()
		names["up"] = true
		if _, err := app.Append(0, upLabels, s.Time.UnixMilli(), up); err != nil {
			return nil, err
		}
		key := [2]string{s.Job, s.Instance}
		for k, ls := range last[key] {
			if _, ok := now[k]; !ok {
				if _, err := app.Append(0, ls, s.Time.UnixMilli(), math.Float64frombits(value.StaleNaN)); err != nil {
					return nil, err
				}
			}
		}
		if err := app.Commit(); err != nil {
			return nil, err
		}
		last[key] = now
	}
	return names, nil
}

type sample struct {
	labels labels.Labels
	value  float64
}

// parseExposition reads the Prometheus text format with the scrape loop's parser and adds the
// target labels; a label of the sample that clashes with them is kept as exported_<name>, as
// Prometheus does without honor_labels.
func parseExposition(b []byte, target labels.Labels) ([]sample, error) {
	p, err := textparse.New(b, "text/plain; version=0.0.4", nil, textparse.ParserOptions{})
	if err != nil {
		return nil, err
	}
	var out []sample
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if entry != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		var ls labels.Labels
		p.Labels(&ls)
		bld := labels.NewBuilder(ls)
		target.Range(func(l labels.Label) {
			if have := ls.Get(l.Name); have != "" {
				bld.Set("exported_"+l.Name, have)
			}
			bld.Set(l.Name, l.Value)
		})
		out = append(out, sample{labels: bld.Labels(), value: v})
	}
}

// parseRules parses a rule file, or the spec of a PrometheusRule, with rulefmt, which also
// parses every expression and template.
func parseRules(file string) (*rulefmt.RuleGroups, []error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, []error{err}
	}
	var obj struct {
		Kind string    `yaml:"kind"`
		Spec yaml.Node `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return nil, []error{err}
	}
	if obj.Kind == "PrometheusRule" {
		if b, err = yaml.Marshal(&obj.Spec); err != nil {
			return nil, []error{err}
		}
	}
	return rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), promslog.NewNopLogger())
}

type evaluator struct {
	engine *promql.Engine
	db     *tsdb.DB
	names  map[string]bool
	at     time.Time
}

func (e evaluator) queryFunc() rules.QueryFunc { return rules.EngineQueryFunc(e.engine, e.db) }

// query parses and evaluates one expression at e.at.
func (e evaluator) query(title, expr string) QueryReport {
	qr := QueryReport{Title: title, Expr: expr, Metrics: map[string]bool{}}
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		qr.Error = err.Error()
		return qr
	}
	for _, name := range selectedNames(parsed) {
		qr.Metrics[name] = e.names[name]
	}
	vec, err := e.queryFunc()(context.Background(), expr, e.at)
	if err != nil {
		qr.Error = err.Error()
		return qr
	}
	qr.Series = seriesOf(vec)
	return qr
}

// rule evaluates one rule at e.at and, for an alert, replays its evaluations from start.
func (e evaluator) rule(g rulefmt.RuleGroup, r rulefmt.Rule, start time.Time, interval time.Duration) RuleReport {
	rr := RuleReport{Group: g.Name, Alert: r.Alert, Record: r.Record, QueryReport: e.query("", r.Expr)}
	if r.For != 0 {
		rr.For = r.For.String()
	}
	if rr.Error != "" || r.Alert == "" {
		return rr
	}
	parsed, _ := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
	ar := rules.NewAlertingRule(r.Alert, parsed, time.Duration(r.For), time.Duration(r.KeepFiringFor),
		labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true,
		slog.New(slog.DiscardHandler))
	for ts := start; !ts.After(e.at); ts = ts.Add(interval) {
		if _, err := ar.Eval(context.Background(), 0, ts, e.queryFunc(), nil, 0); err != nil {
			rr.Error = err.Error()
			return rr
		}
	}
	// The last evaluation is at e.at itself, so that the state matches the series reported.
	if _, err := ar.Eval(context.Background(), 0, e.at, e.queryFunc(), nil, 0); err != nil {
		rr.Error = err.Error()
		return rr
	}
	rr.State = alertState(ar.ActiveAlerts())
	return rr
}

// alertState is the most advanced state of a rule's alerts, as the rule manager reports it.
func alertState(active []*rules.Alert) string {
	state := rules.StateInactive
	for _, a := range active {
		state = max(state, a.State)
	}
	return state.String()
}

// selectedNames returns the metric names an expression selects, sorted.
func selectedNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					names = append(names, m.Value)
				}
			}
		}
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names)
}

func seriesOf(vec promql.Vector) []map[string]string {
	out := []map[string]string{}
	for _, s := range vec {
		m := s.Metric.Map()
		m["__value__"] = strconv.FormatFloat(s.F, 'g', -1, 64)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b map[string]string) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	return out
}

type dashboardQuery struct{ title, expr string }

// grafanaVar is a Grafana template variable reference: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?(\w+)\}?`)

// dashboardQueries returns every panel target's expression, rows' nested panels included, with
// Grafana's variables substituted.
func dashboardQueries(file string) ([]dashboardQuery, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []dashboardQuery
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, dashboardQuery{title: p.Title, expr: substitute(t.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

func substitute(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		switch strings.Trim(v, "${}") {
		case "__rate_interval":
			return "5m"
		case "__interval":
			return "1m"
		case "__range":
			return "1h"
		default:
			return ".*"
		}
	})
}

func (r *Report) print(w io.Writer) {
	fmt.Fprintf(w, "evaluated at %s\n", r.At.UTC().Format(time.RFC3339))
	for _, e := range r.FileErrors {
		fmt.Fprintln(w, "rule file:", e)
	}
	for _, rr := range r.Rules {
		name := cmp.Or(rr.Alert, rr.Record)
		fmt.Fprintf(w, "%s/%s: %s\n", rr.Group, name, rr.summary(rr.State))
	}
	for _, q := range r.Dashboard {
		fmt.Fprintf(w, "dashboard %q: %s\n", q.Title, q.summary(""))
	}
}

func (q QueryReport) summary(state string) string {
	if q.Error != "" {
		return "ERROR " + q.Error
	}
	var missing []string
	for n, ok := range q.Metrics {
		if !ok {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	s := fmt.Sprintf("parsed, %d series", len(q.Series))
	if state != "" {
		s += ", " + state
	}
	if len(missing) > 0 {
		s += ", not in the scrapes: " + strings.Join(missing, " ")
	}
	return s
}
