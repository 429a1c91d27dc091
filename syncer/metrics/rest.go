package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Verbs of the REST client metrics other than the HTTP methods.
const (
	// VerbWatch is a watch request (?watch=true). Watches are counted but not timed: their
	// responses last until the apiserver ends them.
	VerbWatch = "WATCH"
	// CodeError is the code of a request that got no response (a timeout, a refused
	// connection), as client-go's own metrics name it.
	CodeError = "<error>"
)

// restMetrics are the metrics of the API clients of one syncer, in its own registry rather
// than client-go's global k8s.io/client-go/tools/metrics, which one process can register
// only once for every syncer it runs.
type restMetrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.HistogramVec
}

func newRESTMetrics() *restMetrics {
	return &restMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "rest_client_requests_total",
			Help: "API requests by cluster, verb (the HTTP method, or WATCH) and code (the HTTP status, or <error> without a response).",
		}, []string{"cluster", "verb", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "rest_client_request_duration_seconds",
			Help:    "Time from sending an API request until its response headers arrive, by cluster, verb and code; watches are not timed.",
			Buckets: requestBuckets,
		}, []string{"cluster", "verb", "code"}),
		rateLimited: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "rest_client_rate_limiter_duration_seconds",
			Help:    "Time API requests waited for the client-side rate limiter (--kube-api-qps, --kube-api-burst), by cluster.",
			Buckets: requestBuckets,
		}, []string{"cluster"}),
	}
}

func (r *restMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{r.requests, r.duration, r.rateLimited}
}

// Client observes the API requests of the clients of one cluster under its cluster ID. The
// ID may be set after the clients are built: a member's clients identify it first. Until
// then, its requests carry cluster="".
type Client struct {
	m       *restMetrics
	cluster atomic.Pointer[string]
}

// Client returns the observer of one cluster's API clients.
func (m *Metrics) Client(cluster string) *Client {
	c := &Client{m: m.rest}
	c.SetCluster(cluster)
	return c
}

// SetCluster sets the cluster label of the requests from now on.
func (c *Client) SetCluster(id string) { c.cluster.Store(&id) }

func (c *Client) clusterID() string { return *c.cluster.Load() }

// Instrument makes the clients built from cfg observe their requests and their waits for the
// rate limiter. Every client built from cfg shares one rate limiter, which Instrument builds
// from cfg.QPS and cfg.Burst as client-go would when cfg has none; so that each clientset
// keeps a limiter of its own, as without metrics, instrument a copy of the config for each.
func (c *Client) Instrument(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return observedTransport{rt: rt, c: c} })
	limiter := cfg.RateLimiter
	if limiter == nil {
		qps, burst := cfg.QPS, cfg.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		if qps < 0 {
			return // no client-side limit
		}
		limiter = flowcontrol.NewTokenBucketRateLimiter(qps, burst)
	}
	cfg.RateLimiter = observedLimiter{RateLimiter: limiter, c: c}
}

// IsWatch reports whether req is a watch, which lasts until the apiserver ends it.
func IsWatch(req *http.Request) bool { return req.URL.Query().Get("watch") == "true" }

type observedTransport struct {
	rt http.RoundTripper
	c  *Client
}

func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.rt.RoundTrip(req)
	code := CodeError
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	verb, cluster := req.Method, t.c.clusterID()
	if IsWatch(req) {
		verb = VerbWatch
	} else {
		t.c.m.duration.WithLabelValues(cluster, verb, code).Observe(time.Since(start).Seconds())
	}
	t.c.m.requests.WithLabelValues(cluster, verb, code).Inc()
	return resp, err
}

// observedLimiter times the waits of client-go's requests for their rate limiter.
type observedLimiter struct {
	flowcontrol.RateLimiter
	c *Client
}

func (l observedLimiter) Wait(ctx context.Context) error {
	start := time.Now()
	err := l.RateLimiter.Wait(ctx)
	l.observe(start)
	return err
}

func (l observedLimiter) Accept() {
	start := time.Now()
	l.RateLimiter.Accept()
	l.observe(start)
}

func (l observedLimiter) observe(start time.Time) {
	l.c.m.rateLimited.WithLabelValues(l.c.clusterID()).Observe(time.Since(start).Seconds())
}
