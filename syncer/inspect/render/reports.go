package render

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/clusterset/clusterset/syncer/inspect"
)

// Status prints the status report: one row per service and member, then a line per problem.
func (p Printer) Status(r inspect.StatusReport) error {
	if done, err := p.object(r); done {
		return err
	}
	var t table
	t.add(c("SERVICE"), c("CLUSTER"), c("EXPORT"), c("VALID"), c("READY"), c("CONFLICT"), c("IMPORT"), c("VIP"), c("ENDPOINTS"))
	withProblems := 0
	for _, s := range r.Services {
		for i, cs := range s.Clusters {
			name := ""
			if i == 0 {
				name = s.Key.String()
			}
			export, valid, ready, conflict := exportCells(cs)
			t.add(c(name), c(cs.Cluster), export, valid, ready, conflict, importCell(cs.Import), c(orDash(strings.Join(cs.Import.IPs, ","))), endpointsCell(cs.Import))
		}
		for _, line := range s.Problems {
			t.note(problem(line))
		}
		if len(s.Problems) > 0 {
			withProblems++
		}
	}
	if len(r.Services) > 0 {
		if err := t.write(p.Out, p.Colour); err != nil {
			return err
		}
	}
	return p.summary(summaryLine(len(r.Services), "exported service", withProblems), r.Problems)
}

// summary ends a table: a count after an empty line, then the report's own problems.
func (p Printer) summary(line string, problems []string) error {
	var t table
	if !strings.HasPrefix(line, "No ") {
		t.note(c(""))
	}
	t.note(c(line))
	for _, pr := range problems {
		t.note(problem(pr))
	}
	return t.write(p.Out, p.Colour)
}

func summaryLine(n int, noun string, withProblems int) string {
	switch {
	case n == 0:
		return fmt.Sprintf("No %ss found.", noun)
	case withProblems == 0:
		return fmt.Sprintf("%d %s, nothing wrong.", n, plural(n, noun))
	}
	return fmt.Sprintf("%d %s, %d with problems (lines marked !).", n, plural(n, noun), withProblems)
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

func exportCells(cs inspect.ClusterService) (export, valid, ready, conflict cell) {
	switch {
	case !cs.Reachable:
		q := coloured("?", unsure)
		return q, q, q, q
	case cs.Export == nil:
		d := c("-")
		return d, d, d, d
	}
	e := cs.Export
	return c("yes"), conditionCell(e.Valid, "True"), conditionCell(e.Ready, "True"), conditionCell(e.Conflict, "False")
}

// conditionCell shows Status/Reason, green when the status is the healthy one.
func conditionCell(cond inspect.Condition, healthy string) cell {
	switch cond.Status {
	case "":
		return coloured("unset", unsure)
	case healthy:
		return coloured(cond.Status+"/"+cond.Reason, good)
	case "Unknown":
		return coloured(cond.Status+"/"+cond.Reason, unsure)
	}
	return coloured(cond.Status+"/"+cond.Reason, bad)
}

func importCell(imp inspect.ImportStatus) cell {
	switch imp.State {
	case inspect.Imported:
		return coloured(imp.Type, good)
	case inspect.NotImported:
		return c("none")
	case inspect.NamespaceMissing:
		return coloured("no namespace", bad)
	case inspect.NotManaged:
		return coloured("clash", bad)
	case inspect.Unreachable:
		return coloured("unreachable", bad)
	}
	return c(imp.State)
}

// endpointsCell lists ready/total per source cluster.
func endpointsCell(imp inspect.ImportStatus) cell {
	if len(imp.Endpoints) == 0 {
		return c("-")
	}
	var parts []string
	for _, e := range imp.Endpoints {
		parts = append(parts, fmt.Sprintf("%s %d/%d", e.Cluster, e.Ready, e.Total))
	}
	return c(strings.Join(parts, ", "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Members prints the members report.
func (p Printer) Members(r inspect.MembersReport) error {
	if done, err := p.object(r); done {
		return err
	}
	var t table
	t.add(c("MEMBER"), c("CLUSTER"), c("CLUSTERSET"), c("REACHABLE"), c("HEARTBEAT"), c("STALE"), c("SYNCER VERSION"), c("SYNCER READY"))
	for _, m := range r.Members {
		reachable := coloured(inspect.Yes, good)
		if !m.Reachable {
			reachable = coloured(inspect.No, bad)
		}
		heartbeat := coloured(inspect.Unknown, unsure)
		switch {
		case m.Heartbeat != nil:
			heartbeat = c(duration.HumanDuration(m.Heartbeat.Age()) + " ago")
		case m.Reachable:
			heartbeat = c("none")
		}
		t.add(c(m.Member), unknownCell(m.ClusterID), unknownCell(m.ClusterSet), reachable, heartbeat,
			triCell(m.Stale, inspect.No), unknownCell(m.SyncerVersion), readyCell(m.SyncerReady))
	}
	if err := t.write(p.Out, p.Colour); err != nil {
		return err
	}
	return p.summary(fmt.Sprintf("%d %s.", len(r.Members), plural(len(r.Members), "member")), r.Problems)
}

func unknownCell(s string) cell {
	if s == "" || s == inspect.Unknown {
		return coloured(inspect.Unknown, unsure)
	}
	return c(s)
}

// triCell colours yes, no and unknown, healthy being the good answer.
func triCell(v, healthy string) cell {
	switch v {
	case healthy:
		return coloured(v, good)
	case inspect.Unknown:
		return coloured(v, unsure)
	}
	return coloured(v, bad)
}

func readyCell(s string) cell {
	var ready, total int
	if n, _ := fmt.Sscanf(s, "%d/%d", &ready, &total); n == 2 {
		if ready == total && total > 0 {
			return coloured(s, good)
		}
		return coloured(s, bad)
	}
	return coloured(s, unsure)
}

// Check prints the check report: one row per service and member, the detail of every result
// that is not ok under it.
func (p Printer) Check(r inspect.CheckReport) error {
	if done, err := p.object(r); done {
		return err
	}
	var t table
	t.add(c("SERVICE"), c("CLUSTER"), c("DNS"), c("WANT"), c("GOT"), c("RESULT"))
	last := inspect.Key{}
	for _, res := range r.Results {
		name := ""
		if res.Key != last {
			name, last = res.Key.String(), res.Key
		}
		want, got := "?", "-"
		if res.Want != nil {
			want = res.Want.String()
		}
		if res.Got != nil {
			got = res.Got.String()
		}
		t.add(c(name), c(res.Cluster), c(orDash(res.Server)), c(want), c(got), resultCell(res.Result))
		if res.Detail != "" {
			t.note(problem(res.Cluster + ": " + res.Detail))
		}
	}
	if err := t.write(p.Out, p.Colour); err != nil {
		return err
	}
	n := len(r.Results)
	line := fmt.Sprintf("%d %s: %d ok, %d disagree, %d could not be checked.", n, plural(n, "answer"), n-r.Mismatches-r.Unchecked, r.Mismatches, r.Unchecked)
	return p.summary(line, nil)
}

func resultCell(result string) cell {
	switch result {
	case inspect.ResultOK:
		return coloured(result, good)
	case inspect.ResultMismatch:
		return coloured(result, bad)
	}
	return coloured(result, unsure)
}
