package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// TestClientInstrument: requests are counted by cluster, verb and code and timed, except
// watches; the cluster label follows SetCluster; the waits for the rate limiter are
// observed, and the limiter is the one cfg.QPS and cfg.Burst describe.
func TestClientInstrument(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()

	m := New()
	c := m.Client("")
	cfg := &rest.Config{Host: srv.URL, QPS: 20, Burst: 1}
	c.Instrument(cfg)
	if cfg.RateLimiter == nil || cfg.RateLimiter.QPS() != 20 {
		t.Fatalf("rate limiter %v, want one of 20 QPS", cfg.RateLimiter)
	}
	client, err := rest.UnversionedRESTClientFor(withCodecs(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(path string, params ...string) {
		t.Helper()
		req := client.Get().AbsPath(path)
		for i := 0; i+1 < len(params); i += 2 {
			req = req.Param(params[i], params[i+1])
		}
		_ = req.Do(ctx).Error()
	}
	get("/ok") // before the cluster is identified
	c.SetCluster("c1")
	get("/ok")
	get("/missing")
	get("/ok", "watch", "true")
	_ = client.Post().AbsPath("/ok").Body([]byte("{}")).Do(ctx).Error()

	for _, tc := range []struct {
		cluster, verb, code string
		want                float64
	}{
		{"", "GET", "200", 1},
		{"c1", "GET", "200", 1},
		{"c1", "GET", "404", 1},
		{"c1", VerbWatch, "200", 1},
		{"c1", "POST", "200", 1},
	} {
		if got := write(t, m.rest.requests.WithLabelValues(tc.cluster, tc.verb, tc.code)).GetCounter().GetValue(); got != tc.want {
			t.Errorf("requests_total{%s,%s,%s} = %v, want %v", tc.cluster, tc.verb, tc.code, got, tc.want)
		}
	}
	if got := len(series(t, m.rest.duration)); got != 4 {
		t.Errorf("request duration has %d series, want 4 (the watch not timed)", got)
	}
	if n := write(t, m.rest.duration.WithLabelValues("c1", "GET", "404")).GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("404 timed %d times, want 1", n)
	}
	// Five requests through a limiter of burst 1 at 20 QPS: four waited about 50 ms each.
	waits := write(t, m.rest.rateLimited.WithLabelValues("c1")).GetHistogram()
	if waits.GetSampleCount() != 4 || waits.GetSampleSum() < 0.1 {
		t.Errorf("rate limiter waits of c1: %d, %.3f s in all; want 4, at least 0.1 s", waits.GetSampleCount(), waits.GetSampleSum())
	}
}

// TestClientInstrumentNoLimit: a negative QPS means no client-side limit, as in client-go.
func TestClientInstrumentNoLimit(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1", QPS: -1}
	New().Client("c1").Instrument(cfg)
	if cfg.RateLimiter != nil {
		t.Errorf("rate limiter %v, want none", cfg.RateLimiter)
	}
}

func withCodecs(cfg *rest.Config) *rest.Config {
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}
