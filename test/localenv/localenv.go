// Package localenv runs a local clusterset of real control planes: one etcd and
// N kube-apiservers (each with its own etcd prefix, port, Service CIDR and
// keys), optionally a kube-controller-manager per cluster for real
// EndpointSlices. Every cluster gets the mcs-api and ClusterProperty CRDs and
// its cluster.clusterset.k8s.io and clusterset.k8s.io properties.
//
// The binaries come from bin/ (make tools), built from pinned Go modules.
package localenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/proc"
)

// Options configure a local clusterset.
type Options struct {
	// Clusters is the number of member clusters, 1 to MaxClusters.
	Clusters int
	// ControllerManager also runs a kube-controller-manager with the
	// EndpointSlice and ResourceQuota controllers in every cluster.
	ControllerManager bool
	// DualStackClusters makes the first N clusters dual-stack, IPv4 primary: they
	// also get the IPv6 Service range ServiceCIDRIPv6.
	DualStackClusters int
	// ClusterSetID is the clusterset.k8s.io property; default "clusterset-1".
	ClusterSetID string
	// Dir holds data, logs and kubeconfigs. Empty means a temp dir that Stop
	// removes.
	Dir string
	// BinDir holds the control-plane binaries; default: $CLUSTERSET_BIN_DIR,
	// else bin/ at the root of the clusterset module.
	BinDir string
	// BasePort, when set, makes ports consecutive from it (etcd client, etcd
	// peer, then one apiserver per cluster); otherwise the kernel picks them.
	BasePort int
	// Detach lets the processes outlive this one (localenv up). Then Stop is
	// done by Down(Dir) from another process.
	Detach bool
	// Log receives one line per step; nil discards.
	Log io.Writer
}

// MaxClusters bounds Options.Clusters: each cluster is a ~280 MB apiserver.
const MaxClusters = 20

// Env is a running local clusterset.
type Env struct {
	Dir      string
	Clusters []*Cluster

	opts      Options
	bin       string
	ownsDir   bool
	etcd      *proc.Process
	etcdURL   string
	token     string
	stopOnce  sync.Once
	createdMu sync.Mutex // clusters are set up in parallel
	createdIn []string   // paths this Env created inside a user-given Dir
}

// Cluster is one member cluster of the local clusterset.
type Cluster struct {
	// ID is the cluster.clusterset.k8s.io property: cluster-1, cluster-2, …
	ID string
	// Kubeconfig is the path of an admin kubeconfig (Dir/<ID>/kubeconfig).
	Kubeconfig string
	// Config is the same admin access, with raised QPS and Burst.
	Config *rest.Config
	// ServiceCIDR is the cluster's (IPv4) --service-cluster-ip-range.
	ServiceCIDR string
	// ServiceCIDRIPv6 is the cluster's secondary, IPv6 Service range; empty
	// unless the cluster is dual-stack (Options.DualStackClusters).
	ServiceCIDRIPv6 string
	// PodCIDR is the (IPv4) range from which benchmarks and tests give the
	// cluster's Pods their addresses (see PodIP). It overlaps no cluster's
	// ServiceCIDR, so a peer's address filter keeps these endpoints.
	PodCIDR string
	// Server is the apiserver URL.
	Server string
	// NodeName is the cluster's one Node, in zone <ID>-zone, to which
	// MakePodReady binds Pods.
	NodeName string

	dir               string
	port              int
	apiserver         *proc.Process
	controllerManager *proc.Process
	env               *Env
}

// Start brings up a local clusterset and returns once every apiserver is
// ready and seeded. On any error, everything it started is stopped and what it
// created is removed.
func Start(ctx context.Context, o Options) (env *Env, err error) {
	started := time.Now()
	if err := o.validate(); err != nil {
		return nil, err
	}
	bin, err := o.binDir()
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPorts, err := portPlan(o.BasePort, o.Clusters)
	if err != nil {
		return nil, err
	}
	env = &Env{opts: o, bin: bin, token: randomHex(16)}
	if err := env.makeDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			env.Stop()
			env = nil
		}
	}()

	if err := env.startEtcd(ctx, etcdClient, etcdPeer); err != nil {
		return env, err
	}
	for i := range o.Clusters {
		env.Clusters = append(env.Clusters, env.newCluster(i+1, apiPorts[i]))
	}
	// Apiservers start in parallel: each spends most of its ~4 s in its own
	// post-start hooks.
	if err := env.eachCluster(func(c *Cluster) error { return c.bootstrap(ctx) }); err != nil {
		return env, err
	}
	if o.Detach {
		if err := env.writeState(); err != nil {
			return env, err
		}
	}
	env.logf("local clusterset of %d clusters ready in %.1fs (dir %s)", o.Clusters, time.Since(started).Seconds(), env.Dir)
	return env, nil
}

// StartT starts a local clusterset for a test and stops it when the test ends,
// pass or fail. It fails the test at once when the environment cannot start.
func StartT(t testing.TB, o Options) *Env {
	t.Helper()
	if o.BinDir == "" {
		need := []string{"etcd", "kube-apiserver"}
		if o.ControllerManager {
			need = append(need, "kube-controller-manager")
		}
		bindir.Require(t, need...)
	}
	if o.Log == nil {
		o.Log = testLog{t}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("localenv: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("localenv stop: %v", err)
		}
	})
	return env
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s", p)
	return len(p), nil
}

func (o *Options) validate() error {
	if o.Clusters < 1 || o.Clusters > MaxClusters {
		return fmt.Errorf("clusters must be between 1 and %d, got %d", MaxClusters, o.Clusters)
	}
	if o.DualStackClusters < 0 || o.DualStackClusters > o.Clusters {
		return fmt.Errorf("dual-stack clusters must be between 0 and %d, got %d", o.Clusters, o.DualStackClusters)
	}
	if o.ClusterSetID == "" {
		o.ClusterSetID = "clusterset-1"
	}
	if !isDNSLabel(o.ClusterSetID) {
		return fmt.Errorf("clusterset ID %q is not a DNS label (lower-case letters, digits and '-', at most 63)", o.ClusterSetID)
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

func (o *Options) binDir() (string, error) {
	need := []string{"etcd", "kube-apiserver"}
	if o.ControllerManager {
		need = append(need, "kube-controller-manager")
	}
	if o.BinDir != "" {
		for _, name := range need {
			if fi, err := os.Stat(filepath.Join(o.BinDir, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return "", fmt.Errorf("%s not found in %s: build the control-plane binaries with `make tools` first", name, o.BinDir)
			}
		}
		return filepath.Abs(o.BinDir)
	}
	if _, err := bindir.Find(need...); err != nil {
		return "", err
	}
	return bindir.Dir()
}

func (e *Env) makeDir() error {
	if e.opts.Dir == "" {
		dir, err := os.MkdirTemp("", "localenv-")
		if err != nil {
			return err
		}
		e.Dir, e.ownsDir = dir, true
		return nil
	}
	dir, err := filepath.Abs(e.opts.Dir)
	if err != nil {
		return err
	}
	if running, err := stateRunning(dir); err != nil {
		return err
	} else if running {
		return fmt.Errorf("%s already holds a running local clusterset; run `localenv down --dir %s` first", dir, dir)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		e.ownsDir = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	e.Dir = dir
	return nil
}

// mkdir creates a directory inside Dir and remembers it for removal.
func (e *Env) mkdir(name string) (string, error) {
	path := filepath.Join(e.Dir, name)
	if err := os.RemoveAll(path); err != nil {
		return "", err
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return "", err
	}
	e.createdMu.Lock()
	e.createdIn = append(e.createdIn, path)
	e.createdMu.Unlock()
	return path, nil
}

func (e *Env) startEtcd(ctx context.Context, clientPort, peerPort int) error {
	data, err := e.mkdir("etcd")
	if err != nil {
		return err
	}
	e.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	e.etcd = &proc.Process{
		Name: "etcd",
		Bin:  filepath.Join(e.bin, "etcd"),
		Args: []string{
			"--name=localenv",
			"--data-dir=" + filepath.Join(data, "data"),
			"--listen-client-urls=" + e.etcdURL,
			"--advertise-client-urls=" + e.etcdURL,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=localenv=" + peer,
			// Test data is disposable; fsync would dominate start-up and writes.
			"--unsafe-no-fsync",
			"--log-level=warn",
		},
		LogPath: filepath.Join(data, "etcd.log"),
		Detach:  e.opts.Detach,
	}
	if err := e.etcd.Start(); err != nil {
		return err
	}
	if err := proc.WaitHTTP(ctx, e.etcd, e.etcdURL+"/health", "", 30*time.Second); err != nil {
		return err
	}
	e.logf("etcd ready at %s (pid %d)", e.etcdURL, e.etcd.PID())
	return nil
}

func (e *Env) eachCluster(f func(*Cluster) error) error {
	errs := make([]error, len(e.Clusters))
	var wg sync.WaitGroup
	for i, c := range e.Clusters {
		wg.Go(func() { errs[i] = f(c) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Stop stops every process this Env started, by PID, and removes what it
// created. It is safe to call more than once.
func (e *Env) Stop() error {
	var errs []error
	e.stopOnce.Do(func() {
		grace := 10 * time.Second
		for _, c := range e.Clusters {
			if c.controllerManager != nil {
				c.controllerManager.Stop(grace)
			}
		}
		var wg sync.WaitGroup
		for _, c := range e.Clusters {
			if c.apiserver != nil {
				wg.Go(func() { c.apiserver.Stop(grace) })
			}
		}
		wg.Wait()
		if e.etcd != nil {
			e.etcd.Stop(grace)
		}
		errs = append(errs, e.removeCreated())
	})
	return errors.Join(errs...)
}

func (e *Env) removeCreated() error {
	if e.Dir == "" {
		return nil
	}
	if e.ownsDir {
		return os.RemoveAll(e.Dir)
	}
	var errs []error
	for _, p := range append(e.createdIn, statePath(e.Dir)) {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Processes lists the name and PID of every running process of the Env.
func (e *Env) Processes() []Process {
	var ps []Process
	add := func(p *proc.Process) {
		if p != nil && !p.Exited() {
			ps = append(ps, Process{Name: p.Name, PID: p.PID(), Log: p.LogPath})
		}
	}
	add(e.etcd)
	for _, c := range e.Clusters {
		add(c.apiserver)
		add(c.controllerManager)
	}
	return ps
}

// Process is one running control-plane process.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
}

func (e *Env) logf(format string, args ...any) {
	fmt.Fprintf(e.opts.Log, format+"\n", args...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
