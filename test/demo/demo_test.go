package demo

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterset/clusterset/test/localenv"
)

// TestSmoke is `make demo-smoke`: the whole user flow on real apiservers, the
// built syncer and CoreDNS, with every answer checked.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three control planes, syncers and CoreDNS servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	var live []ImportRow
	err := Run(ctx, Options{Smoke: true, Out: &out, AfterTable: func(ctx context.Context, env *localenv.Env) error {
		var err error
		live, err = ImportRows(ctx, env)
		return err
	}})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	// The table the user saw agrees with the objects in every cluster.
	printed, err := ParseImportTable(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(printed) != 6 {
		t.Errorf("the table has %d rows, want 2 imports in each of 3 clusters: %+v", len(printed), printed)
	}
	if !slices.Equal(printed, live) {
		t.Errorf("printed table %+v disagrees with the live imports %+v", printed, live)
	}
	for _, r := range printed {
		want := map[string]string{"web": "cluster-1", "db": "cluster-2"}[r.Name]
		if r.ExportedFrom != want {
			t.Errorf("%s's %s: EXPORTED FROM %q, want %q", r.Cluster, r.Name, r.ExportedFrom, want)
		}
	}
	for _, want := range []string{"ClusterSetIP", "Headless", "smoke test passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// kubectl clusterset status shows both services, clean, with every cluster's VIP.
	_, status, ok := strings.Cut(out.String(), "$ kubectl clusterset status\n")
	if !ok {
		t.Fatal("the demo does not print kubectl clusterset status")
	}
	status, _, _ = strings.Cut(status, "$ dig")
	for _, want := range []string{"demo/db", "demo/web", "True/Exported", "2 exported services, nothing wrong."} {
		if !strings.Contains(status, want) {
			t.Errorf("kubectl clusterset status lacks %q:\n%s", want, status)
		}
	}
	for _, r := range live {
		if r.IP != "-" && !strings.Contains(status, r.IP) {
			t.Errorf("kubectl clusterset status lacks %s's VIP %s of %s:\n%s", r.Cluster, r.IP, r.Name, status)
		}
	}
}
