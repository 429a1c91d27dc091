package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
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
	err := Run(ctx, Options{Smoke: true, Out: &out})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ClusterSetIP", "Headless", "smoke test passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
