package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/clusterset/clusterset/syncer/member"
	"github.com/clusterset/clusterset/syncer/metrics"
)

// memberPollInterval is how often the member kubeconfig directory is read. Polling, rather
// than inotify, sees every way a mounted Secret changes (the kubelet swaps a "..data"
// symlink; editors rename; network filesystems send no events) and reading a few small files
// every two seconds costs nothing; a change is told by a content hash.
const memberPollInterval = 2 * time.Second

// localKey is the candidate key of the local cluster in pull mode, admitted without one.
const localKey = "local"

// connState is where one configured candidate stands.
type connState int

const (
	// Undecided: which cluster the candidate is, or whether the controller has it, is not
	// known yet. While any candidate is undecided, the contributions of clusters that are not
	// members are kept: one of them may be it.
	connecting connState = iota // identifying; retried while unreachable
	unusable                    // the kubeconfig is refused before connecting
	// Decided.
	admitted // handed to the controller, which counts it unknown until its caches synced
	refused
	localCluster // the local cluster, listed among the members
)

func (s connState) undecided() bool { return s == connecting || s == unusable }

// conn is one candidate's connection: its identification and, once admitted, its caches,
// which run until cancel.
type conn struct {
	cand   member.Candidate
	ctx    context.Context
	cancel context.CancelFunc
	// firstAttempt is closed once the candidate is decided or its first attempt failed.
	firstAttempt     chan struct{}
	firstAttemptOver func()

	state  connState
	reason string // of a refusal
	id     string // the cluster ID, once identified
	cl     clients
}

// membership keeps the controller's members in step with the configured candidates: the
// member kubeconfig directory (polled) and the member Secrets (watched).
//
// Cluster IDs are first claimed by order of identification, and then kept: a candidate
// claiming an ID another candidate already holds is refused (DuplicateClusterID, logged at
// the default level with both origins) and takes the ID over when the holder leaves. Candidates
// identified during start-up claim in key order (directory files by name, then Secrets by
// name), so a restart decides the same way. An added kubeconfig can therefore never displace,
// nor make the syncer forget, a member already admitted.
type membership struct {
	s       *syncer
	rules   member.Rules
	secrets cache.SharedIndexInformer // nil without --member-secret-selector
	// localAPIServer identifies the local apiserver (pull mode), to tell the local cluster
	// listed among the members from a member that merely claims the local ID.
	localAPIServer string
	changed        chan struct{} // a member Secret changed

	mu    sync.Mutex
	conns map[string]*conn // by candidate key
	// superseded are admitted connections whose kubeconfig changed: each serves until the
	// new connection for its key is decided (make before break), by candidate key.
	superseded map[string]*conn
	holders    map[string]*conn // by cluster ID
	lastDir    []member.Candidate
	starting   bool    // identifications are parked until start-up ends
	parked     []*conn // identified during start-up, not yet admitted
	undecided  int     // as last told to the controller; -1 before
}

func newMembership(ctx context.Context, s *syncer) (*membership, error) {
	m := &membership{
		s: s, rules: member.Rules{AllowExecCredentials: s.opts.AllowExecCredentials},
		changed: make(chan struct{}, 1), conns: map[string]*conn{}, superseded: map[string]*conn{}, holders: map[string]*conn{},
		undecided: -1,
	}
	s.metrics.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "members_undecided",
		Help: "Configured member kubeconfigs whose cluster is not known yet: not identified, unreachable, or unusable.",
	}, m.undecidedCount))
	if s.opts.Mode == ModePull {
		uid, err := member.APIServerIdentity(ctx, s.local.kube)
		if err != nil {
			return nil, fmt.Errorf("local cluster: identifying the apiserver: %w", err)
		}
		m.localAPIServer = uid
	}
	if sel := s.opts.MemberSecretSelector; sel != "" {
		m.secrets = coreinformers.NewFilteredSecretInformer(s.local.kube, s.opts.Namespace, 0, cache.Indexers{},
			func(o *metav1.ListOptions) { o.LabelSelector = sel })
		poke := func(any) {
			select {
			case m.changed <- struct{}{}:
			default:
			}
		}
		_, _ = m.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: poke, UpdateFunc: func(_, obj any) { poke(obj) }, DeleteFunc: poke,
		})
	}
	return m, nil
}

// start admits the local cluster (pull mode) and every candidate that can be identified now,
// and then follows configuration changes. The controller waits for their caches.
func (m *membership) start(ctx context.Context) error {
	o := m.s.opts
	if m.secrets != nil {
		go m.secrets.RunWithContext(ctx)
		syncCtx, cancel := context.WithTimeout(ctx, o.MemberTTL)
		synced := cache.WaitForCacheSync(syncCtx.Done(), m.secrets.HasSynced)
		cancel()
		if !synced {
			return fmt.Errorf("--member-secret-selector: the Secrets in %s could not be listed within %v", o.Namespace, o.MemberTTL)
		}
	}
	cands, err := m.candidates()
	if err != nil {
		return err
	}

	m.mu.Lock()
	m.starting = true
	if o.Mode == ModePull {
		local := &conn{cand: member.Candidate{Key: localKey, Origin: "the local cluster"}, id: m.s.localID.ClusterID, cl: m.s.local}
		local.ctx, local.cancel = context.WithCancel(ctx)
		m.holders[local.id] = local
		m.s.admit(local.ctx, local.id, local.cl, true)
		local.state = admitted
	}
	m.mu.Unlock()
	started := m.sync(ctx, cands)
	for _, c := range started {
		select {
		case <-c.firstAttempt:
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	m.mu.Lock()
	m.starting = false
	parked := m.parked
	m.parked = nil
	slices.SortFunc(parked, func(a, b *conn) int { return strings.Compare(a.cand.Key, b.cand.Key) })
	for _, c := range parked {
		if m.conns[c.cand.Key] == c && c.state == connecting {
			m.admitLocked(c)
		}
	}
	m.publishLocked(ctx)
	m.mu.Unlock()
	go m.watch(ctx)
	return nil
}

// watch applies configuration changes until ctx ends.
func (m *membership) watch(ctx context.Context) {
	tick := time.NewTicker(memberPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-m.changed:
		}
		cands, err := m.candidates()
		if err != nil {
			klog.FromContext(ctx).Error(err, "Reading the member kubeconfigs failed; keeping the previous ones")
		}
		m.sync(ctx, cands)
	}
}

// candidates reads the configured kubeconfigs, ordered by key: directory files by name, then
// Secrets by name. When the directory cannot be read, its previous candidates are returned
// with the error: a configuration that cannot be read is not an empty one.
func (m *membership) candidates() ([]member.Candidate, error) {
	var out []member.Candidate
	var err error
	if dir := m.s.opts.MemberKubeconfigs; dir != "" {
		var cands []member.Candidate
		if cands, err = member.FromDir(dir, m.rules); err != nil {
			cands, err = m.lastDir, fmt.Errorf("--member-kubeconfigs: %w", err)
		}
		m.lastDir = cands
		out = append(out, cands...)
	}
	if m.secrets != nil {
		for _, obj := range m.secrets.GetStore().List() {
			out = append(out, member.FromSecret(obj.(*corev1.Secret), m.rules))
		}
	}
	slices.SortFunc(out, func(a, b member.Candidate) int { return strings.Compare(a.Key, b.Key) })
	return out, err
}

// sync starts a connection for every new or changed candidate and stops those of removed or
// changed ones; it returns the connections started.
func (m *membership) sync(ctx context.Context, cands []member.Candidate) []*conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]member.Candidate{}
	for _, c := range cands {
		want[c.Key] = c
	}
	var started []*conn
	for key, c := range m.conns {
		w, configured := want[key]
		switch {
		case configured && w.Hash == c.cand.Hash:
			continue
		case configured:
			klog.FromContext(ctx).Info("Member kubeconfig changed, reconnecting", "member", c.cand.Origin, "cluster", c.id)
			if c.state == admitted && m.superseded[key] == nil {
				m.superseded[key] = c // serves until its successor is decided
			} else {
				m.stopLocked(ctx, c)
			}
		default:
			klog.FromContext(ctx).Info("Member kubeconfig removed", "member", c.cand.Origin, "cluster", c.id)
			m.stopLocked(ctx, c)
			if old := m.superseded[key]; old != nil {
				delete(m.superseded, key)
				m.stopLocked(ctx, old)
			}
		}
		delete(m.conns, key)
	}
	for _, cand := range cands {
		if _, ok := m.conns[cand.Key]; !ok {
			started = append(started, m.newConnLocked(ctx, cand))
		}
	}
	m.publishLocked(ctx)
	for _, c := range started {
		go m.connect(c)
	}
	return started
}

func (m *membership) newConnLocked(ctx context.Context, cand member.Candidate) *conn {
	c := &conn{cand: cand, firstAttempt: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.firstAttemptOver = sync.OnceFunc(func() { close(c.firstAttempt) })
	if cand.Refused != nil {
		c.state, c.reason = unusable, cand.Refused.Reason
	}
	m.conns[cand.Key] = c
	return c
}

// stopLocked ends a connection. An admitted member hands its cluster ID over to the first
// candidate refused for claiming it, if any; otherwise it leaves the controller, which
// collects what only it exported, before its caches stop.
func (m *membership) stopLocked(ctx context.Context, c *conn) {
	if c.state == admitted && m.holders[c.id] == c {
		if next := m.claimantLocked(c); next != nil {
			klog.FromContext(ctx).Info("Member handed over", "cluster", c.id, "from", c.cand.Origin, "to", next.cand.Origin)
			m.swapLocked(c, next) // stops c once next has synced
			return
		}
		m.s.ctrl.RemoveMember(c.id)
		c.cancel()
		m.s.tracker.Forget(c.id)
		delete(m.holders, c.id)
	}
	c.cancel()
}

// claimantLocked is the first candidate, by key, refused for claiming the ID c holds.
func (m *membership) claimantLocked(c *conn) *conn {
	var next *conn
	for _, other := range m.conns {
		if other != c && other.state == refused && other.reason == member.RefusedDuplicateID && other.id == c.id &&
			(next == nil || other.cand.Key < next.cand.Key) {
			next = other
		}
	}
	return next
}

// connect identifies a candidate, retrying while it is unreachable, and decides on it.
func (m *membership) connect(c *conn) {
	defer c.firstAttemptOver()
	ctx := c.ctx
	logger := klog.FromContext(ctx).WithValues("member", c.cand.Origin)
	if r := c.cand.Refused; r != nil {
		m.countRefusal(logger, r)
		return
	}
	cl, err := m.s.opts.clientsFor(c.cand.Config, m.s.metrics.Client(""))
	if err != nil {
		m.mu.Lock()
		c.state, c.reason = unusable, member.RefusedMalformed
		m.publishLocked(ctx)
		m.mu.Unlock()
		m.countRefusal(logger, &member.Refusal{Reason: member.RefusedMalformed, Message: err.Error()})
		return
	}
	var id member.Identity
	var apiserver string
	attemptTimeout := min(m.s.opts.MemberTTL, 10*time.Second)
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Steps: 1 << 30, Cap: 30 * time.Second}
	_ = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		attemptCtx, cancel := context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
		id, err = member.Identify(attemptCtx, cl.dynamic)
		if err == nil && m.claimsLocalID(id) {
			apiserver, err = member.APIServerIdentity(attemptCtx, cl.kube)
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				apiserver, err = "unverifiable: "+err.Error(), nil
			}
		}
		if err != nil && ctx.Err() == nil {
			logger.Info("Member unreachable, retrying", "err", err)
			c.firstAttemptOver()
		}
		return err == nil, nil
	})
	if ctx.Err() != nil {
		return
	}
	cl.observed.SetCluster(id.ClusterID)
	m.decide(ctx, logger, c, id, apiserver, cl)
}

func (m *membership) claimsLocalID(id member.Identity) bool {
	return m.s.opts.Mode == ModePull && id.ClusterID == m.s.localID.ClusterID
}

func (m *membership) decide(ctx context.Context, logger klog.Logger, c *conn, id member.Identity, apiserver string, cl clients) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns[c.cand.Key] != c {
		return // replaced meanwhile
	}
	c.id, c.cl = id.ClusterID, cl
	r := member.Check(id, m.s.localID.ClusterSet, c.cand.ExpectedClusterID)
	if old := m.superseded[c.cand.Key]; old != nil {
		delete(m.superseded, c.cand.Key)
		if r == nil && old.id == c.id && m.holders[c.id] == old && !m.claimsLocalID(id) {
			m.swapLocked(old, c)
			m.publishLocked(ctx)
			return
		}
		m.stopLocked(ctx, old)
	}
	switch {
	case r != nil:
		m.refuseLocked(ctx, logger, c, r)
	case m.claimsLocalID(id) && apiserver == m.localAPIServer:
		c.state = localCluster
		logger.Info("Member is the local cluster", "cluster", id.ClusterID)
	case m.claimsLocalID(id):
		m.refuseLocked(ctx, logger, c, &member.Refusal{Reason: member.RefusedLocalClusterID, Message: fmt.Sprintf(
			"claims the local cluster's ID %q but is another apiserver (kube-system namespace UID %s, the local one is %s)",
			id.ClusterID, apiserver, m.localAPIServer)})
	case m.starting:
		m.parked = append(m.parked, c)
	default:
		m.admitLocked(c)
	}
	m.publishLocked(ctx)
}

// admitLocked gives the candidate its cluster ID unless another candidate holds it.
func (m *membership) admitLocked(c *conn) {
	logger := klog.FromContext(c.ctx).WithValues("member", c.cand.Origin)
	if holder, ok := m.holders[c.id]; ok {
		m.refuseLocked(c.ctx, logger, c, &member.Refusal{Reason: member.RefusedDuplicateID, Message: fmt.Sprintf(
			"cluster ID %q is held by %s; this kubeconfig is refused until that one leaves the configuration", c.id, holder.cand.Origin)})
		return
	}
	m.holders[c.id] = c
	m.joinLocked(c)
}

// swapLocked replaces the admitted connection old by c, for the same cluster ID, without a
// gap: the controller swaps members of one ID atomically and counts the new one as unknown
// (kept as it was) until its caches have synced; the old caches serve until then.
func (m *membership) swapLocked(old, c *conn) {
	m.holders[c.id] = c
	synced := m.s.admit(c.ctx, c.id, c.cl, m.s.opts.Mode == ModeHub)
	m.admittedLocked(c)
	go func() {
		cache.WaitForCacheSync(c.ctx.Done(), synced)
		old.cancel()
	}()
}

func (m *membership) refuseLocked(ctx context.Context, logger klog.Logger, c *conn, r *member.Refusal) {
	c.state, c.reason = refused, r.Reason
	m.countRefusal(logger.WithValues("cluster", c.id), r)
	m.publishLocked(ctx)
}

func (m *membership) countRefusal(logger klog.Logger, r *member.Refusal) {
	logger.Info("Member refused", "reason", r.Reason, "detail", r.Message)
	m.s.metrics.MembersRefused.WithLabelValues(r.Reason).Inc()
}

// joinLocked starts the caches of an admitted candidate and hands them to the controller.
func (m *membership) joinLocked(c *conn) {
	m.s.admit(c.ctx, c.id, c.cl, m.s.opts.Mode == ModeHub)
	m.admittedLocked(c)
}

func (m *membership) admittedLocked(c *conn) {
	c.state = admitted
	klog.FromContext(c.ctx).Info("Member admitted", "member", c.cand.Origin, "cluster", c.id)
	go m.s.tracker.Track(c.ctx, c.id, c.cl.kube)
}

func (m *membership) undecidedCount() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return float64(max(m.undecided, 0))
}

// publishLocked tells the controller how many candidates are undecided.
func (m *membership) publishLocked(ctx context.Context) {
	n := 0
	for _, c := range m.conns {
		if c.state.undecided() {
			n++
		}
	}
	if n != m.undecided {
		klog.FromContext(ctx).V(2).Info("Undecided members", "count", n)
		m.undecided = n
		m.s.ctrl.SetUndecidedMembers(n)
	}
}
