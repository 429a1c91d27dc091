package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/clusterset/clusterset/syncer/inspect"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the output")

var created = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)

var (
	validTrue  = inspect.Condition{Status: "True", Reason: "Valid"}
	readyTrue  = inspect.Condition{Status: "True", Reason: "Exported"}
	noConflict = inspect.Condition{Status: "False", Reason: "NoConflicts"}
)

func imported(typ string, ips []string, eps ...inspect.SourceEndpoints) inspect.ImportStatus {
	return inspect.ImportStatus{State: inspect.Imported, Type: typ, IPs: ips, DerivedService: "derived-1", Endpoints: eps}
}

// statusReport has a healthy service, a conflict, a refused export, a missing namespace and
// an unreachable member.
var statusReport = inspect.StatusReport{Services: []inspect.ServiceStatus{
	{
		Key: inspect.Key{Namespace: "demo", Name: "api"}, Exporters: []string{"cluster-1", "cluster-2"}, Winner: "cluster-1",
		Clusters: []inspect.ClusterService{
			{Cluster: "cluster-1", Member: "cluster-1", Reachable: true,
				Export: &inspect.ExportStatus{Created: created, Valid: validTrue, Ready: readyTrue, Conflict: inspect.Condition{Status: "True", Reason: "PortConflict"}},
				Import: imported("ClusterSetIP", []string{"10.101.0.7"}, inspect.SourceEndpoints{Cluster: "cluster-1", Ready: 1, Total: 1}, inspect.SourceEndpoints{Cluster: "cluster-2", Ready: 0, Total: 1})},
			{Cluster: "cluster-2", Member: "cluster-2", Reachable: true,
				Export: &inspect.ExportStatus{Created: created.Add(time.Minute), Valid: validTrue, Ready: readyTrue, Conflict: inspect.Condition{Status: "True", Reason: "PortConflict"}},
				Import: imported("ClusterSetIP", []string{"10.102.0.7"}, inspect.SourceEndpoints{Cluster: "cluster-1", Ready: 1, Total: 1}, inspect.SourceEndpoints{Cluster: "cluster-2", Ready: 0, Total: 1})},
			{Cluster: "cluster-3", Member: "ctx-3", Import: inspect.ImportStatus{State: inspect.Unreachable}},
		},
		Problems: []string{
			"cluster-3: unreachable, its export and import are unknown: no answer from https://127.0.0.1:6443 within 5s",
			`conflict PortConflict, the oldest export (cluster-1) wins: ports: those of cluster-2 differ from those of cluster-1 (oldest export); exposing the union of all ports`,
		},
	},
	{
		Key: inspect.Key{Namespace: "demo", Name: "name"}, Exporters: []string{"cluster-1"},
		Clusters: []inspect.ClusterService{
			{Cluster: "cluster-1", Member: "cluster-1", Reachable: true,
				Export: &inspect.ExportStatus{Created: created, Valid: inspect.Condition{Status: "False", Reason: "InvalidServiceType"}, Ready: inspect.Condition{Status: "False", Reason: "Failed"}, Conflict: noConflict},
				Import: inspect.ImportStatus{State: inspect.NotImported}},
			{Cluster: "cluster-2", Member: "cluster-2", Reachable: true, Import: inspect.ImportStatus{State: inspect.NotImported}},
		},
		Problems: []string{"cluster-1: export refused: Valid=False InvalidServiceType: a Service of type ExternalName cannot be exported"},
	},
	{
		Key: inspect.Key{Namespace: "demo", Name: "web"}, Exporters: []string{"cluster-1"}, Winner: "cluster-1",
		Clusters: []inspect.ClusterService{
			{Cluster: "cluster-1", Member: "cluster-1", Reachable: true, Export: &inspect.ExportStatus{Created: created, Valid: validTrue, Ready: readyTrue, Conflict: noConflict},
				Import: imported("ClusterSetIP", []string{"10.101.169.57"}, inspect.SourceEndpoints{Cluster: "cluster-1", Ready: 2, Total: 2})},
			{Cluster: "cluster-2", Member: "cluster-2", Reachable: true, Import: imported("ClusterSetIP", []string{"10.102.255.9"}, inspect.SourceEndpoints{Cluster: "cluster-1", Ready: 2, Total: 2})},
			{Cluster: "cluster-4", Member: "cluster-4", Reachable: true, Import: inspect.ImportStatus{State: inspect.NamespaceMissing}},
		},
		Problems: []string{"cluster-4: namespace demo missing: not imported there (the syncer never creates namespaces)"},
	},
	{
		Key: inspect.Key{Namespace: "shop", Name: "db"}, Exporters: []string{"cluster-2"}, Winner: "cluster-2",
		Clusters: []inspect.ClusterService{
			{Cluster: "cluster-1", Member: "cluster-1", Reachable: true, Import: imported("Headless", nil, inspect.SourceEndpoints{Cluster: "cluster-2", Ready: 1, Total: 1})},
			{Cluster: "cluster-2", Member: "cluster-2", Reachable: true, Export: &inspect.ExportStatus{Created: created, Valid: validTrue, Ready: readyTrue, Conflict: noConflict},
				Import: imported("Headless", nil, inspect.SourceEndpoints{Cluster: "cluster-2", Ready: 1, Total: 1})},
		},
	},
}, Problems: []string{"cluster-2: reading the ServiceExports: forbidden"}}

var membersReport = inspect.MembersReport{
	Members: []inspect.MemberStatus{
		{Member: "cluster-1", ClusterID: "cluster-1", ClusterSet: "clusterset-1", Reachable: true,
			Heartbeat: &inspect.Heartbeat{Holder: "cluster-1", Renewed: created, AgeSeconds: 4.2, DurationSeconds: 60},
			Stale:     inspect.No, SyncerVersion: "v0.3.1", SyncerReady: "2/2"},
		{Member: "cluster-2", ClusterID: "cluster-2", ClusterSet: "clusterset-1", Reachable: true,
			Heartbeat: &inspect.Heartbeat{Holder: "cluster-2", Renewed: created, AgeSeconds: 95, DurationSeconds: 60},
			Stale:     inspect.Yes, SyncerVersion: "v0.3.1", SyncerReady: "unknown (no syncer Deployment)"},
		{Member: "ctx-3", Reachable: false, Error: "no answer from https://127.0.0.1:6443 within 5s",
			Stale: inspect.Unknown, SyncerVersion: inspect.Unknown, SyncerReady: inspect.Unknown},
	},
	Problems: []string{
		"cluster-2: stale: its syncer's heartbeat was renewed 1m35s ago, beyond its 60s; the syncers withdraw its endpoints everywhere",
		"ctx-3: unreachable: no answer from https://127.0.0.1:6443 within 5s",
	},
}

func expectation(cluster, name string, want *inspect.Answer) inspect.Expectation {
	return inspect.Expectation{Key: inspect.Key{Namespace: "demo", Name: name}, Cluster: cluster, Member: cluster,
		Query: name + ".demo.svc.clusterset.local.", Want: want}
}

var checkReport = inspect.NewCheckReport([]inspect.CheckResult{
	{Expectation: expectation("cluster-1", "web", &inspect.Answer{Rcode: "NOERROR", Addresses: []string{"10.101.169.57"}}),
		Server: "127.0.0.10:5301", Got: &inspect.Answer{Rcode: "NOERROR", Addresses: []string{"10.101.169.57"}}, Result: inspect.ResultOK},
	{Expectation: expectation("cluster-2", "web", &inspect.Answer{Rcode: "NOERROR", Addresses: []string{"10.102.255.9"}}),
		Server: "127.0.0.11:5301", Got: &inspect.Answer{Rcode: "NOERROR", Addresses: []string{"10.9.9.9"}}, Result: inspect.ResultMismatch,
		Detail: "answers 10.9.9.9, want 10.102.255.9 (the cluster IPs of the derived Service derived-1)"},
	{Expectation: expectation("cluster-3", "web", &inspect.Answer{Rcode: "NXDOMAIN"}),
		Server: "127.0.0.12:5301", Result: inspect.ResultUnreachable, Detail: "read udp 127.0.0.1:40000->127.0.0.12:5301: i/o timeout"},
})

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestTablesGolden(t *testing.T) {
	for name, print := range map[string]func(Printer) error{
		"status":  func(p Printer) error { return p.Status(statusReport) },
		"members": func(p Printer) error { return p.Members(membersReport) },
		"check":   func(p Printer) error { return p.Check(checkReport) },
		"empty":   func(p Printer) error { return p.Status(inspect.StatusReport{}) },
	} {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := print(Printer{Out: &b, Format: Table}); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "\x1b[") {
				t.Errorf("colour codes without Colour:\n%q", b.String())
			}
			golden(t, name, b.Bytes())
		})
	}
}

// Colour paints cells without moving the columns.
func TestColour(t *testing.T) {
	var plainOut, colourOut bytes.Buffer
	if err := (Printer{Out: &plainOut, Format: Table}).Members(membersReport); err != nil {
		t.Fatal(err)
	}
	if err := (Printer{Out: &colourOut, Format: Table, Colour: true}).Members(membersReport); err != nil {
		t.Fatal(err)
	}
	out := colourOut.String()
	for _, want := range []string{good + "yes" + reset, bad + "no" + reset, unsure + "unknown" + reset, good + "2/2" + reset} {
		if !strings.Contains(out, want) {
			t.Errorf("coloured output lacks %q:\n%q", want, out)
		}
	}
	stripped := strings.NewReplacer(good, "", bad, "", unsure, "", reset, "").Replace(out)
	if stripped != plainOut.String() {
		t.Errorf("without its escapes, the coloured table differs:\n%s\n---\n%s", stripped, plainOut.String())
	}
}

// JSON and YAML print the report model itself: it reads back unchanged.
func TestObjects(t *testing.T) {
	for _, f := range []Format{JSON, YAML} {
		var b bytes.Buffer
		if err := (Printer{Out: &b, Format: f}).Status(statusReport); err != nil {
			t.Fatal(err)
		}
		var back inspect.StatusReport
		var err error
		if f == JSON {
			err = json.Unmarshal(b.Bytes(), &back)
		} else {
			err = yaml.Unmarshal(b.Bytes(), &back)
		}
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !reflect.DeepEqual(back, statusReport) {
			t.Errorf("%s does not read back to the report:\n%s", f, b.String())
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, ok := range []string{"table", "json", "yaml"} {
		if f, err := ParseFormat(ok); err != nil || string(f) != ok {
			t.Errorf("ParseFormat(%q) = %q, %v", ok, f, err)
		}
	}
	if _, err := ParseFormat("wide"); err == nil || !strings.Contains(err.Error(), "want table, json or yaml") {
		t.Errorf("ParseFormat(wide): %v", err)
	}
}
