package clusterset

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// instance is the runtime of one clusterset directive in one server block: it publishes the
// indexes its informers build into the handler, and it is what a reload's new instance of the
// same block takes over from.
//
// caddy runs a reload as: set up the new instances, run their startup callbacks, start their
// servers on the inherited sockets, then stop the old instances. Until that last step the old
// instance answers. So the new one never answers without an index when the old one had one: it
// starts with the old index (immutable, so sharing it is safe) and replaces it with its own once
// its informers have synced. When its settings differ from the old one's (TTL, credentials), or
// there is no old one, its startup callback also waits, bounded, for its own first index.
type instance struct {
	cs     *Clusterset
	cfg    config
	server string // "dns://:53", a metrics label
	key    string // the server and the zones: the identity a reload carries over

	own       atomic.Bool  // an index of its own informers has been published
	published atomic.Int64 // Unix nanoseconds at which the serving index was built, 0 before
	firstOwn  chan struct{}
	created   time.Time
	cancel    context.CancelFunc // stops the informers
}

func newInstance(cs *Clusterset, cfg config, server string) *instance {
	return &instance{
		cs: cs, cfg: cfg, server: server,
		key:      server + " " + strings.Join(cs.Zones, " "),
		firstOwn: make(chan struct{}),
		created:  time.Now(),
		cancel:   func() {},
	}
}

// serving holds the started instances by key: the metrics report them, and a reload's new
// instance finds its predecessor here.
var serving = struct {
	sync.Mutex
	byKey map[string]*instance
}{byKey: map[string]*instance{}}

// servingInstances returns the started instances, ordered by key.
func servingInstances() []*instance {
	serving.Lock()
	defer serving.Unlock()
	return slices.SortedFunc(maps.Values(serving.byKey), func(a, b *instance) int { return strings.Compare(a.key, b.key) })
}

// start runs the informers, takes over the index of the previous instance of the same key, waits
// (bounded) for its own first index if it has to, and then stands in for the previous instance.
func (in *instance) start(ctx context.Context, src *source) {
	serving.Lock()
	prev := serving.byKey[in.key]
	serving.Unlock()

	// Inherited before the informers run, so that the serial of the own index follows it.
	inherited := false
	if prev != nil {
		if snap := prev.cs.snapshot.Load(); snap != nil {
			in.cs.snapshot.Store(snap)
			in.published.Store(prev.published.Load())
			inherited = true
		}
	}
	// The informers log through their context: see klogLogger.
	go src.run(klog.NewContext(ctx, klogLogger), in.update)
	if !inherited || !in.sameIndexAs(prev) {
		in.waitFirstOwn(ctx)
	} else if !in.own.Load() {
		log.Infof("serving the previous index of %s until the informers have synced", in.zones())
	}

	serving.Lock()
	serving.byKey[in.key] = in
	serving.Unlock()
}

// sameIndexAs reports whether prev's index is the one this instance would build.
func (in *instance) sameIndexAs(prev *instance) bool {
	return prev.cs.ttl == in.cs.ttl && prev.cfg.kubeconfig == in.cfg.kubeconfig && prev.cfg.context == in.cfg.context
}

// waitFirstOwn waits up to the startup timeout for the first index of the informers. The servers
// of the instance start after it returns; during a reload the previous ones answer meanwhile.
func (in *instance) waitFirstOwn(ctx context.Context) {
	if in.own.Load() || in.cfg.startupTimeout <= 0 {
		return
	}
	log.Infof("waiting up to %s for the ServiceImport and EndpointSlice lists before serving %s", in.cfg.startupTimeout, in.zones())
	timer := time.NewTimer(in.cfg.startupTimeout)
	defer timer.Stop()
	select {
	case <-in.firstOwn:
	case <-ctx.Done():
	case <-timer.C:
		if in.cs.snapshot.Load() == nil {
			log.Warningf("no index after %s: %s is not ready and answers SERVFAIL, or falls through, until the lists complete", in.cfg.startupTimeout, in.zones())
		} else {
			log.Warningf("no index of the new settings after %s: serving the previous index of %s until the lists complete", in.cfg.startupTimeout, in.zones())
		}
	}
}

// stop stops the informers and withdraws the instance, unless a newer one of the same key has
// taken its place.
func (in *instance) stop() {
	in.cancel()
	serving.Lock()
	if serving.byKey[in.key] == in {
		delete(serving.byKey, in.key)
	}
	serving.Unlock()
}

// resume puts the instance back in place after a failed reload, which keeps it serving. caddy
// runs no shutdown callback of the instance that failed to start, so its informers, if it got
// as far as starting them, are stopped here.
func (in *instance) resume() {
	serving.Lock()
	defer serving.Unlock()
	if failed := serving.byKey[in.key]; failed != nil && failed != in {
		failed.cancel()
	}
	serving.byKey[in.key] = in
}

// update publishes the changed imports. The first update of the instance's own informers holds
// every import and replaces an inherited index whole.
func (in *instance) update(changed map[string]*service) {
	var base *snapshot
	if in.own.Load() {
		base = in.cs.snapshot.Load()
	}
	snap := in.cs.publish(base, changed)
	in.published.Store(time.Now().UnixNano())
	if !in.own.Swap(true) {
		close(in.firstOwn)
		log.Infof("index of %s ready after %s: %d imports, %d headless endpoints",
			in.zones(), time.Since(in.created).Round(time.Millisecond), snap.imports, snap.endpoints)
	}
}

func (in *instance) zones() string { return strings.Join(in.cs.Zones, " ") }
