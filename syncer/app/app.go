// Package app runs one clusterset syncer: it resolves the local cluster's identity, admits
// the members, builds the source caches and the target writers for the mode (pull: write only
// into the local cluster; hub: write into every member), serves metrics and health probes,
// renews the heartbeat Lease and, when elected leader, reconciles.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/controller"
	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/liveness"
	"github.com/clusterset/clusterset/syncer/member"
	"github.com/clusterset/clusterset/syncer/metrics"
	"github.com/clusterset/clusterset/syncer/policy"
	"github.com/clusterset/clusterset/syncer/source"
	"github.com/clusterset/clusterset/syncer/target"
)

// Modes.
const (
	ModePull = "pull"
	ModeHub  = "hub"
)

// LeaderElectionLease is the Lease replicas of one syncer compete for.
const LeaderElectionLease = "clusterset-syncer"

// Options configure a syncer; the fields mirror the command-line flags.
type Options struct {
	Kubeconfig             string
	MemberKubeconfigs      string
	MemberSecretSelector   string
	Mode                   string
	ClusterID              string
	ClusterSetID           string
	Namespace              string
	MetricsBindAddress     string
	HealthProbeBindAddress string
	LeaderElect            bool
	MemberTTL              time.Duration
	QPS                    float64
	Burst                  int
	MaxEndpointsPerSlice   int
	Workers                int
	ResyncPeriod           time.Duration
	// DeniedExportNamespaces and AllowedExportNamespaces (empty: all) admit exports by
	// namespace; the syncer's own namespace is always denied.
	DeniedExportNamespaces  []string
	AllowedExportNamespaces []string
	MaxExportsPerMember     int
	MaxEndpointsPerExport   int
	TargetTimeout           time.Duration
	RequestTimeout          time.Duration
	AllowExecCredentials    bool

	// LocalConfig, when set, is used instead of Kubeconfig (in-process tests).
	LocalConfig *rest.Config
	// Metrics, when set, collects the syncer's metrics (in-process tests read them).
	Metrics *metrics.Metrics
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "clusterset-system"
	}
	return Options{
		Mode:                   ModePull,
		Namespace:              ns,
		MetricsBindAddress:     ":8080",
		HealthProbeBindAddress: ":8081",
		MemberTTL:              60 * time.Second,
		QPS:                    200,
		Burst:                  400,
		MaxEndpointsPerSlice:   desired.DefaultMaxEndpointsPerSlice,
		Workers:                16,
		ResyncPeriod:           10 * time.Minute,
		DeniedExportNamespaces: policy.DefaultDeniedNamespaces,
		MaxExportsPerMember:    policy.DefaultMaxExportsPerMember,
		MaxEndpointsPerExport:  policy.DefaultMaxEndpointsPerExport,
		TargetTimeout:          controller.DefaultTargetTimeout,
		RequestTimeout:         15 * time.Second,
	}
}

// AddFlags binds the options to command-line flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the local cluster; empty: in-cluster config")
	fs.StringVar(&o.MemberKubeconfigs, "member-kubeconfigs", o.MemberKubeconfigs, "directory with one kubeconfig file per member cluster (any file names; the local cluster may be among them)")
	fs.StringVar(&o.MemberSecretSelector, "member-secret-selector", o.MemberSecretSelector, "label selector of Secrets in --namespace holding member kubeconfigs under the key \""+member.SecretKey+"\", e.g. "+member.SecretLabel+"=true")
	fs.StringVar(&o.Mode, "mode", o.Mode, "pull: write only into the local cluster; hub: write into every member")
	fs.StringVar(&o.ClusterID, "cluster-id", o.ClusterID, "ID of the local cluster; default: its ClusterProperty "+member.ClusterIDProperty)
	fs.StringVar(&o.ClusterSetID, "clusterset-id", o.ClusterSetID, "clusterset to sync; default: the local ClusterProperty "+member.ClusterSetProperty)
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of the syncer's Leases and member Secrets; defaults to $POD_NAMESPACE when set")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "address serving /metrics; 0 disables")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress, "address serving /healthz and /readyz; 0 disables")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader among replicas with the Lease "+LeaderElectionLease)
	fs.DurationVar(&o.MemberTTL, "member-ttl", o.MemberTTL, "withdraw a member's endpoints once its heartbeat Lease is older, or it has been unreachable, for this long")
	fs.Float64Var(&o.QPS, "kube-api-qps", o.QPS, "client queries per second, per cluster")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "client burst, per cluster")
	fs.IntVar(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", o.MaxEndpointsPerSlice, "endpoints per mirrored EndpointSlice (at most 1000)")
	fs.IntVar(&o.Workers, "workers", o.Workers, "services reconciled in parallel")
	fs.DurationVar(&o.ResyncPeriod, "resync-period", o.ResyncPeriod, "re-reconcile everything at this period (a resync of unchanged state writes nothing); 0 disables")
	listFlag(fs, &o.DeniedExportNamespaces, "denied-export-namespaces", "comma-separated namespaces whose exports are refused (--namespace is always refused too)")
	listFlag(fs, &o.AllowedExportNamespaces, "allowed-export-namespaces", "comma-separated namespaces whose exports are admitted; empty: every namespace not denied")
	fs.IntVar(&o.MaxExportsPerMember, "max-exports-per-member", o.MaxExportsPerMember, "exports admitted per member cluster, its oldest first; 0: no limit")
	fs.IntVar(&o.MaxEndpointsPerExport, "max-endpoints-per-export", o.MaxEndpointsPerExport, "endpoints mirrored per member cluster and export; 0: no limit")
	fs.DurationVar(&o.TargetTimeout, "target-timeout", o.TargetTimeout, "bound on one service's writes into one target cluster, so that a dead target holds no worker")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, "bound on every API request to any cluster, watches excepted; 0 disables")
	fs.BoolVar(&o.AllowExecCredentials, "allow-exec-credentials", o.AllowExecCredentials, "let member kubeconfigs run exec and auth-provider plugins and read files (client-certificate, client-key, certificate-authority, tokenFile); by default only inline credentials are accepted")
}

// listFlag binds a comma-separated list flag; an empty value sets an empty list.
func listFlag(fs *flag.FlagSet, list *[]string, name, usage string) {
	fs.Func(name, usage+" (default \""+strings.Join(*list, ",")+"\")", func(v string) error {
		*list = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*list = append(*list, item)
			}
		}
		return nil
	})
}

func (o *Options) validate() error {
	switch {
	case o.Mode != ModePull && o.Mode != ModeHub:
		return fmt.Errorf("--mode must be %s or %s, not %q", ModePull, ModeHub, o.Mode)
	case o.MemberTTL <= 0:
		return errors.New("--member-ttl must be positive")
	case o.MaxExportsPerMember < 0 || o.MaxEndpointsPerExport < 0:
		return errors.New("--max-exports-per-member and --max-endpoints-per-export must not be negative")
	case o.TargetTimeout <= 0:
		return errors.New("--target-timeout must be positive")
	case o.MaxEndpointsPerSlice < 1 || o.MaxEndpointsPerSlice > desired.MaxEndpointsPerSlice:
		return fmt.Errorf("--max-endpoints-per-slice must be within 1..%d", desired.MaxEndpointsPerSlice)
	case o.Mode == ModeHub && o.MemberKubeconfigs == "" && o.MemberSecretSelector == "":
		return errors.New("hub mode needs --member-kubeconfigs or --member-secret-selector")
	}
	return nil
}

// clients are the API clients of one cluster.
type clients struct {
	kube    kubernetes.Interface
	mcs     mcsclient.Interface
	dynamic dynamic.Interface
	// observed labels their requests in the metrics.
	observed *metrics.Client
}

// clientsFor builds the clients of one cluster, whose requests observed records. Each
// clientset has its own rate limiter of --kube-api-qps and --kube-api-burst.
func (o *Options) clientsFor(cfg *rest.Config, observed *metrics.Client) (clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.QPS), o.Burst
	cfg.UserAgent = desired.ManagerName
	withRequestTimeout(cfg, o.RequestTimeout)
	instrumented := func() *rest.Config {
		c := rest.CopyConfig(cfg)
		observed.Instrument(c)
		return c
	}
	kube, err := kubernetes.NewForConfig(instrumented())
	if err != nil {
		return clients{}, err
	}
	mcs, err := mcsclient.NewForConfig(instrumented())
	if err != nil {
		return clients{}, err
	}
	dyn, err := dynamic.NewForConfig(instrumented())
	if err != nil {
		return clients{}, err
	}
	return clients{kube: kube, mcs: mcs, dynamic: dyn, observed: observed}, nil
}

// Run runs the syncer until ctx ends (nil) or it fails.
func Run(ctx context.Context, o Options) error {
	err := run(ctx, o)
	if ctx.Err() != nil {
		// A stop requested while starting (say, during the ClusterProperty
		// read) surfaces as a canceled request; it is a clean stop.
		return nil
	}
	return err
}

func run(ctx context.Context, o Options) error {
	if err := o.validate(); err != nil {
		return err
	}
	localConfig := o.LocalConfig
	if localConfig == nil {
		var err error
		if localConfig, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
			return fmt.Errorf("local cluster: %w", err)
		}
	}
	m := o.Metrics
	if m == nil {
		m = metrics.New()
	}
	local, err := o.clientsFor(localConfig, m.Client(""))
	if err != nil {
		return err
	}
	id, err := member.Identify(ctx, local.dynamic)
	if err != nil {
		return fmt.Errorf("local cluster: %w", err)
	}
	if o.ClusterID != "" {
		id.ClusterID = o.ClusterID
	}
	local.observed.SetCluster(id.ClusterID)
	if o.ClusterSetID != "" {
		id.ClusterSet = o.ClusterSetID
	}
	if id.ClusterSet == "" {
		return fmt.Errorf("the local cluster has no ClusterProperty %s and --clusterset-id is not set", member.ClusterSetProperty)
	}
	if r := member.Check(id, id.ClusterSet, ""); r != nil && (o.Mode == ModePull || o.ClusterID != "") {
		return fmt.Errorf("local cluster: %s", r.Message)
	}
	logger := klog.FromContext(ctx).WithValues("syncer", id.ClusterID)
	ctx = klog.NewContext(ctx, logger)
	logger.Info("Starting", "mode", o.Mode, "clusterSet", id.ClusterSet, "memberTTL", o.MemberTTL)

	s := &syncer{opts: o, local: local, localID: id, metrics: m}
	s.tracker = liveness.NewTracker(o.Namespace, o.MemberTTL, func(memberID string, _ bool) {
		m.MembersStale.Set(float64(s.tracker.StaleCount()))
		s.ctrl.EnqueueMember(memberID)
	})
	s.ctrl = controller.New(controller.Options{
		Workers: o.Workers, MaxEndpointsPerSlice: o.MaxEndpointsPerSlice, ResyncPeriod: o.ResyncPeriod,
		SyncTimeout: o.MemberTTL, Stale: s.tracker.Stale, Metrics: m,
		MemberTTL: o.MemberTTL, TargetTimeout: o.TargetTimeout,
		Namespaces:          policy.NewNamespaces(append(slices.Clone(o.DeniedExportNamespaces), o.Namespace), o.AllowedExportNamespaces),
		MaxExportsPerMember: o.MaxExportsPerMember, MaxEndpointsPerExport: o.MaxEndpointsPerExport,
	})

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers, err := s.serve(ctx)
	if err != nil {
		return err
	}
	defer func() {
		cancel() // the servers stop with ctx
		servers.Wait()
	}()

	// Every replica renews the heartbeat, so that a leader handover does not look like a
	// dead cluster to the other members.
	if id.ClusterID != "" {
		go liveness.Heartbeat(ctx, local.kube, o.Namespace, id.ClusterID, o.MemberTTL)
	}
	if o.LeaderElect {
		return s.runElected(ctx, localConfig)
	}
	return s.run(ctx)
}

type syncer struct {
	opts    Options
	local   clients
	localID member.Identity
	metrics *metrics.Metrics
	ctrl    *controller.Controller
	tracker *liveness.Tracker

	mu      sync.Mutex
	standby bool // waiting to be elected
}

// runElected runs the syncer while this replica leads. The elected work ends when the lease
// is lost or when the work stops on its own (an error); either way the replica gives the
// lease up only once its workers have stopped writing, and returns an error, so that the
// process exits and restarts as a standby with fresh caches: no replica renews a lease it
// does not work for.
func (s *syncer) runElected(ctx context.Context, cfg *rest.Config) error {
	hostname, _ := os.Hostname()
	identity := fmt.Sprintf("%s_%d", hostname, os.Getpid())
	inner, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, s.opts.Namespace, LeaderElectionLease,
		resourcelock.ResourceLockConfig{Identity: identity}, cfg, 10*time.Second)
	if err != nil {
		return err
	}
	lock := &acquiredLock{Interface: inner}
	s.setStandby(true)
	electionCtx, stopElection := context.WithCancel(ctx)
	defer stopElection()
	workDone := make(chan error, 1) // the elected work's result, sent once its workers stopped
	leaderelection.RunOrDie(electionCtx, leaderelection.LeaderElectionConfig{
		// Not ReleaseOnCancel: that releases as soon as renewing stops, while the workers may
		// still be writing. The lease is released below instead.
		Lock: lock, Name: LeaderElectionLease,
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				s.setStandby(false)
				workDone <- s.run(ctx)
				stopElection() // the work stopped on its own: stop renewing too
			},
			OnStoppedLeading: func() {},
		},
	})
	if !lock.acquired {
		return nil // stopped before being elected
	}
	// RunOrDie has cancelled the work's context; wait for the workers before giving up the
	// lease, so that the next leader never writes alongside them.
	workErr := <-workDone
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := releaseLease(releaseCtx, lock, identity); err != nil {
		klog.FromContext(ctx).Error(err, "Releasing the leader election Lease failed; it expires by itself")
	}
	if ctx.Err() != nil {
		return nil
	}
	if workErr == nil {
		workErr = errors.New("leader election lost")
	}
	return fmt.Errorf("elected work stopped: %w", workErr)
}

// acquiredLock records whether the replica ever held the lease. The flag is written by
// RunOrDie's own goroutine (acquire and renew run in it) and read after RunOrDie returns.
type acquiredLock struct {
	resourcelock.Interface
	acquired bool
}

func (l *acquiredLock) Create(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Create(ctx, r)
	l.acquired = l.acquired || err == nil && r.HolderIdentity == l.Identity()
	return err
}

func (l *acquiredLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	err := l.Interface.Update(ctx, r)
	l.acquired = l.acquired || err == nil && r.HolderIdentity == l.Identity()
	return err
}

// releaseLease gives the lease up if this replica still holds it, as client-go's release
// does: no holder and a duration of one second. The update is conditional on the lease's
// resourceVersion, so a lease taken over meanwhile is left alone.
func releaseLease(ctx context.Context, lock resourcelock.Interface, identity string) error {
	record, _, err := lock.Get(ctx)
	if err != nil || record.HolderIdentity != identity {
		return err
	}
	now := metav1.Now()
	return lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now, LeaderTransitions: record.LeaderTransitions,
	})
}

func (s *syncer) setStandby(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.standby = v
}

// ready: caches synced and reconciling, or a healthy standby replica.
func (s *syncer) ready() bool {
	s.mu.Lock()
	standby := s.standby
	s.mu.Unlock()
	return standby || s.ctrl.Started()
}

// run builds the members and targets and reconciles until ctx ends, following membership
// changes as they come.
func (s *syncer) run(ctx context.Context) error {
	m, err := newMembership(ctx, s)
	if err != nil {
		return err
	}
	if err := m.start(ctx); err != nil {
		return err
	}
	return s.ctrl.Run(ctx)
}

// admit starts the caches of a member (and, when written into, its target) and hands them to
// the controller, which counts the member as unknown until they have synced. Admitted under
// the ID of a member the controller has, they replace it at once, and its caches can stop
// once these have synced (synced). The local cluster in pull mode is both member and target.
func (s *syncer) admit(ctx context.Context, id string, cl clients, writeInto bool) (synced cache.InformerSynced) {
	src := source.New(id, cl.kube, cl.mcs, s.ctrl.Enqueue)
	src.Run(ctx)
	s.ctrl.AddMember(ctx, src, writeInto)
	if !writeInto {
		return src.HasSynced
	}
	t := target.New(id, cl.kube, cl.mcs, s.metrics, s.ctrl)
	t.Run(ctx)
	s.ctrl.AddTarget(ctx, t)
	return func() bool { return src.HasSynced() && t.HasSynced() }
}

// serve starts the metrics and health servers; Wait returns once they have stopped.
func (s *syncer) serve(ctx context.Context) (*sync.WaitGroup, error) {
	var wg sync.WaitGroup
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", s.metrics.Handler())
	healthMux := http.NewServeMux()
	healthMux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	healthMux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready() {
			http.Error(w, "caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	for _, srv := range []struct {
		addr string
		mux  http.Handler
	}{{s.opts.MetricsBindAddress, metricsMux}, {s.opts.HealthProbeBindAddress, healthMux}} {
		if srv.addr == "" || srv.addr == "0" {
			continue
		}
		l, err := net.Listen("tcp", srv.addr)
		if err != nil {
			return &wg, err
		}
		hs := &http.Server{Handler: srv.mux, ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() { _ = hs.Serve(l) })
		wg.Go(func() {
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(shutdownCtx)
		})
	}
	return &wg, nil
}
