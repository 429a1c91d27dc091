package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestRequestTimeout: a request whose answer is slower than the timeout fails, a watch that
// streams for longer does not, and a quick request is unaffected.
func TestRequestTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("watch") == "true":
			for range 4 { // 4 × 100 ms: twice the timeout
				_, _ = w.Write([]byte("event\n"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		case r.URL.Path == "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			_, _ = w.Write([]byte("ok"))
		}
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL}
	withRequestTimeout(cfg, timeout)
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (string, error) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}

	start := time.Now()
	if _, err := get("/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow request: %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("slow request took %v", took)
	}
	if body, err := get("/api/v1/pods?watch=true"); err != nil || body != "event\nevent\nevent\nevent\n" {
		t.Errorf("watch: %q, %v; want four events", body, err)
	}
	if body, err := get("/api/v1/pods"); err != nil || body != "ok" {
		t.Errorf("quick request: %q, %v", body, err)
	}
}
