package alerts

import (
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"testing"
)

// evaluator runs bin/promrules over the rule file.
type evaluator struct{ bin, rules, dashboard string }

// report is promrules' JSON report.
type report struct {
	OK         bool          `json:"ok"`
	FileErrors []string      `json:"fileErrors"`
	Rules      []ruleReport  `json:"rules"`
	Dashboard  []queryReport `json:"dashboard"`
}

type queryReport struct {
	Title   string              `json:"title"`
	Expr    string              `json:"expr"`
	Error   string              `json:"error"`
	Metrics map[string]bool     `json:"metrics"`
	Series  []map[string]string `json:"series"`
}

type ruleReport struct {
	Group  string `json:"group"`
	Alert  string `json:"alert"`
	Record string `json:"record"`
	State  string `json:"state"`
	queryReport
}

// run evaluates every rule against the scrapes, at the last one.
func (e evaluator) run(t *testing.T, scrapes []scraped, args ...string) report {
	t.Helper()
	if len(scrapes) == 0 {
		t.Fatal("no scrapes to evaluate")
	}
	args = append([]string{"-json", "-rules", e.rules}, args...)
	for _, s := range scrapes {
		args = append(args, "-scrape", s.spec())
	}
	out, err := exec.Command(e.bin, args...).Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: something did not parse, reported
		t.Fatalf("promrules: %v: %s", err, exit.Stderr)
	}
	var rep report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("promrules report: %v: %s", err, out)
	}
	if len(rep.Rules) == 0 && len(rep.FileErrors) == 0 {
		t.Fatal("promrules reported no rule")
	}
	return rep
}

// expectParsed checks that the rule file, every rule and every dashboard query parsed.
func (r report) expectParsed(t *testing.T) {
	t.Helper()
	for _, e := range r.FileErrors {
		t.Errorf("rule file: %s", e)
	}
	for _, rr := range r.Rules {
		if rr.Error != "" {
			t.Errorf("rule %s: %s", rr.Alert, rr.Error)
		}
	}
	for _, q := range r.Dashboard {
		if q.Error != "" {
			t.Errorf("dashboard panel %q: %s: %s", q.Title, q.Expr, q.Error)
		}
	}
	if !r.OK {
		t.Error("promrules reports a parse failure")
	}
}

// expectSeries checks, for each named alert, that its expression returns series when want
// says so and none otherwise.
func (r report) expectSeries(t *testing.T, state string, want map[string]bool, alerts ...string) {
	t.Helper()
	for _, name := range alerts {
		rr := r.rule(t, name)
		if rr.Error != "" {
			t.Errorf("%s: %s: %s", state, name, rr.Error)
			continue
		}
		if got := len(rr.Series) > 0; got != want[name] {
			t.Errorf("%s: %s returns %d series %v, want series: %v\n  expr: %s", state, name, len(rr.Series), rr.Series, want[name], rr.Expr)
		}
	}
}

// expectLabels checks that some series of an alert's expression has the labels.
func (r report) expectLabels(t *testing.T, alert string, labels map[string]string) {
	t.Helper()
	rr := r.rule(t, alert)
	for _, s := range rr.Series {
		match := true
		for k, v := range labels {
			match = match && s[k] == v
		}
		if match {
			return
		}
	}
	t.Errorf("%s: no series with %v among %v", alert, labels, rr.Series)
}

func (r report) rule(t *testing.T, alert string) ruleReport {
	t.Helper()
	i := slices.IndexFunc(r.Rules, func(rr ruleReport) bool { return rr.Alert == alert })
	if i < 0 {
		t.Fatalf("no alert %s in the rule file", alert)
	}
	return r.Rules[i]
}

func (r report) alertNames() []string {
	var out []string
	for _, rr := range r.Rules {
		if rr.Alert != "" {
			out = append(out, rr.Alert)
		}
	}
	return out
}
