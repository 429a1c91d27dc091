package app

import (
	"context"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/rest"

	"github.com/clusterset/clusterset/syncer/metrics"
)

// withRequestTimeout bounds every request of cfg's clients, response body included, except
// watches: rest.Config.Timeout would also cut every watch (and so every informer) after the
// timeout, while watches are bounded by the apiserver (timeoutSeconds) and dead connections
// are found by the HTTP/2 health checks.
func withRequestTimeout(cfg *rest.Config, timeout time.Duration) {
	if timeout <= 0 {
		return
	}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return requestTimeout{rt: rt, timeout: timeout} })
}

type requestTimeout struct {
	rt      http.RoundTripper
	timeout time.Duration
}

func (t requestTimeout) RoundTrip(req *http.Request) (*http.Response, error) {
	if metrics.IsWatch(req) {
		return t.rt.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's timeout once its body has been read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
