package clusterset

import (
	"bytes"
	"context"
	golog "log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// update publishes the changed imports over the serving index, for tests that index without an
// instance.
func (c *Clusterset) update(changed map[string]*service) { c.publish(c.snapshot.Load(), changed) }

// unreachable returns clients of an apiserver that does not exist: their informers never sync.
func unreachable(t *testing.T) (kubernetes.Interface, mcsclient.Interface) {
	t.Helper()
	kube, mc, err := clients(config{kubeconfig: writeKubeconfig(t, "https://127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	return kube, mc
}

// started runs in as the startup callback does, and withdraws it when the test ends. Without
// clients it gets those of an apiserver that does not exist.
func started(t *testing.T, in *instance, kube kubernetes.Interface, mc mcsclient.Interface) time.Duration {
	t.Helper()
	if kube == nil {
		kube, mc = unreachable(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	t.Cleanup(in.stop)
	begin := time.Now()
	in.start(ctx, newSource(kube, mc))
	return time.Since(begin)
}

func testInstance(ttl uint32, timeout time.Duration) *instance {
	cs := &Clusterset{Zones: []string{zone}, ttl: ttl}
	return newInstance(cs, config{kubeconfig: "/k", startupTimeout: timeout}, "dns://127.0.0.1:1053")
}

// A reload's new instance answers with the previous instance's index from its start on, while
// its own informers have not synced, and replaces it with its own once they have.
func TestReloadInheritsIndex(t *testing.T) {
	old := testInstance(defaultTTL, time.Minute)
	kube, mc := fakeClients(clustersetObjects()...)
	started(t, old, kube, mc)
	if !old.own.Load() || !old.cs.Ready() {
		t.Fatal("the first instance did not build its index within its startup wait")
	}
	oldSnap := old.cs.snapshot.Load()

	// Same settings: no wait, the previous index serves.
	next := testInstance(defaultTTL, time.Minute)
	if took := started(t, next, nil, nil); took > 30*time.Second {
		t.Errorf("start took %s; it should not wait for the lists", took)
	}
	if next.cs.snapshot.Load() != oldSnap || !next.cs.Ready() {
		t.Errorf("the new instance does not serve the previous index")
	}
	if in := servingInstances(); len(in) != 1 || in[0] != next {
		t.Errorf("serving %v, want only the new instance", in)
	}
	old.stop() // the old instance stops after the new one started: that must not withdraw it
	if in := servingInstances(); len(in) != 1 || in[0] != next {
		t.Errorf("after the old instance stopped, serving %v, want the new instance", in)
	}

	// The next reload inherits the same index, and replaces it with its own once synced.
	last := testInstance(defaultTTL, time.Minute)
	kube, mc = fakeClients(clustersetObjects()[:1]...)
	started(t, last, kube, mc)
	waitFor(t, "own index", last.own.Load)
	snap := last.cs.snapshot.Load()
	if snap == oldSnap || snap.imports != 1 || snap.serial <= oldSnap.serial {
		t.Errorf("index after sync: %d imports, serial %d (inherited %d); want the own index of 1 import, a newer serial", snap.imports, snap.serial, oldSnap.serial)
	}
}

// A reload that fails after the new instance started stops that instance's informers and leaves
// the old one in place.
func TestFailedReloadResumes(t *testing.T) {
	old := testInstance(defaultTTL, time.Minute)
	kube, mc := fakeClients(clustersetObjects()...)
	started(t, old, kube, mc)
	failed := testInstance(defaultTTL, time.Minute)
	started(t, failed, nil, nil)
	stopped, stop := false, failed.cancel
	failed.cancel = func() { stopped = true; stop() }

	old.resume()
	if in := servingInstances(); len(in) != 1 || in[0] != old {
		t.Errorf("serving %v after the failed reload, want the old instance", in)
	}
	if !stopped {
		t.Error("the informers of the instance that failed to start still run")
	}
}

// With other settings than the previous instance's (here a TTL), the new instance still starts
// with the previous index, and waits up to its startup timeout for its own.
func TestReloadWithOtherSettingsWaits(t *testing.T) {
	old := testInstance(defaultTTL, time.Minute)
	kube, mc := fakeClients(clustersetObjects()...)
	started(t, old, kube, mc)

	next := testInstance(defaultTTL+1, 200*time.Millisecond)
	if took := started(t, next, nil, nil); took < 200*time.Millisecond {
		t.Errorf("start took %s; it should wait for the startup timeout", took)
	}
	if !next.cs.Ready() || next.cs.snapshot.Load() != old.cs.snapshot.Load() {
		t.Error("after the wait, the new instance does not serve the previous index")
	}
}

// Without a previous instance, start waits for the first index, bounded by the timeout.
func TestFirstStartWaits(t *testing.T) {
	in := testInstance(defaultTTL, time.Minute)
	kube, mc := fakeClients(clustersetObjects()...)
	started(t, in, kube, mc)
	if !in.cs.Ready() {
		t.Error("start returned before the first index")
	}

	never := testInstance(defaultTTL, 100*time.Millisecond)
	never.key += " never" // not a reload of the instance above
	if took := started(t, never, nil, nil); took < 100*time.Millisecond || took > 30*time.Second {
		t.Errorf("start took %s; want the startup timeout", took)
	}
	if never.cs.Ready() {
		t.Error("ready without an index")
	}
}

// Every serving block reports its own gauges, by server and zone.
func TestGaugesPerBlock(t *testing.T) {
	a := testInstance(defaultTTL, time.Minute)
	kube, mc := fakeClients(clustersetObjects()...)
	started(t, a, kube, mc)

	b := newInstance(&Clusterset{Zones: []string{"mcs.example.", "other.example."}, ttl: defaultTTL},
		config{startupTimeout: time.Minute}, "dns://127.0.0.1:1053")
	kube, mc = fakeClients(clustersetObjects()[:1]...)
	started(t, b, kube, mc)

	got := gauges(t, "coredns_clusterset_imports")
	want := map[string]float64{
		"dns://127.0.0.1:1053 " + zone:        float64(a.cs.snapshot.Load().imports),
		"dns://127.0.0.1:1053 mcs.example.":   1,
		"dns://127.0.0.1:1053 other.example.": 1,
	}
	if len(got) != len(want) {
		t.Fatalf("imports gauges %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("imports{%s} = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if a.cs.snapshot.Load().imports < 2 {
		t.Errorf("fixture has %d imports; the test needs the blocks to differ", a.cs.snapshot.Load().imports)
	}
	if n := len(gauges(t, "coredns_clusterset_snapshot_age_seconds")); n != 3 {
		t.Errorf("%d snapshot age gauges, want 3", n)
	}

	b.stop()
	if got := gauges(t, "coredns_clusterset_imports"); len(got) != 1 {
		t.Errorf("after one block stopped: %v, want only the other's", got)
	}
}

// gauges returns the values of the gauge name by "server zone".
func gauges(t *testing.T, name string) map[string]float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out[label(m, "server")+" "+label(m, "zone")] = m.GetGauge().GetValue()
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestSameAnswers(t *testing.T) {
	imp := func(mutate func(*cachedImport)) *cachedImport {
		c, _ := toCachedImport(clusterSetIP("ns", "web", []string{"10.0.0.1"}, importPort("http", corev1.ProtocolTCP, 80)))
		ci := c.(*cachedImport)
		mutate(ci)
		return ci
	}
	sl := func(mutate func(*cachedSlice)) *cachedSlice {
		c, _ := toCachedSlice(mcsSlice("ns", "web-c1", "web", "c1", "IPv4", nil, ep(ready, "a", "10.0.1.1")))
		cs := c.(*cachedSlice)
		mutate(cs)
		return cs
	}
	same := func(*cachedImport) {}
	tests := []struct {
		name     string
		old, obj any
		want     bool
	}{
		{"import: only the resourceVersion", imp(same), imp(func(c *cachedImport) { c.resourceVersion = "2" }), true},
		{"import: IPs", imp(same), imp(func(c *cachedImport) { c.ips = c.ips[:0] }), false},
		{"import: type", imp(same), imp(func(c *cachedImport) { c.headless = true }), false},
		{"import: ports", imp(same), imp(func(c *cachedImport) { c.ports[0].port = 81 }), false},
		{"slice: only the resourceVersion", sl(func(*cachedSlice) {}), sl(func(c *cachedSlice) { c.resourceVersion = "9" }), true},
		{"slice: endpoints", sl(func(*cachedSlice) {}), sl(func(c *cachedSlice) { c.endpoints[0].hostname = "b" }), false},
		{"slice: cluster", sl(func(*cachedSlice) {}), sl(func(c *cachedSlice) { c.cluster = "c2" }), false},
		{"different types", imp(same), sl(func(*cachedSlice) {}), false},
		{"tombstone", imp(same), "not cached", false},
	}
	for _, tc := range tests {
		if got := sameAnswers(tc.old, tc.obj); got != tc.want {
			t.Errorf("%s: sameAnswers = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestKlogSinkFormat(t *testing.T) {
	s := klogSink{}.WithValues("reflector", "r1", "odd").(klogSink)
	got := s.format("Failed to watch", errString("connection refused"), []any{"type", "*v1.EndpointSlice", "n", 3, "err", errString("x")})
	want := `Failed to watch: connection refused reflector="r1" odd="(MISSING)" type="*v1.EndpointSlice" n=3 err="x"`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if !strings.HasPrefix(klogSink{}.format("m", nil, []any{"k"}), `m k="(MISSING)"`) {
		t.Error("a key without a value is not padded")
	}
	if (klogSink{}).Enabled(4) || !(klogSink{}).Enabled(0) {
		t.Error("verbose lines must be off without the debug plugin, default ones on")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// client-go's lines about the plugin's informers go through CoreDNS's logger and name the
// plugin, whatever klog's process-wide logger is (it writes to stderr itself by default, not
// through CoreDNS's logger).
func TestInformerLogsNameThePlugin(t *testing.T) {
	var out lockedBuffer
	golog.SetOutput(&out)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })

	in := testInstance(defaultTTL, 0)
	in.key += " logs"
	started(t, in, nil, nil)
	waitFor(t, "a failed list in the log", func() bool {
		return strings.Contains(out.String(), "[ERROR] plugin/clusterset: Failed to watch: failed to list")
	})
	if !strings.Contains(out.String(), ` type="*v1alpha1.ServiceImport"`) {
		t.Errorf("the log lacks the key/value pairs of client-go:\n%s", out.String())
	}
}

// lockedBuffer is a bytes.Buffer for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
