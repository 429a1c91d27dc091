package localenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/clusterset/clusterset/test/proc"
)

func (e *Env) newCluster(index, port int) *Cluster {
	c := &Cluster{
		ID:          fmt.Sprintf("cluster-%d", index),
		ServiceCIDR: fmt.Sprintf("10.%d.0.0/16", 100+index),
		PodCIDR:     fmt.Sprintf("10.%d.0.0/16", podRangeBase+index),
		NodeName:    fmt.Sprintf("cluster-%d-node", index),
		Server:      fmt.Sprintf("https://127.0.0.1:%d", port),
		port:        port,
		env:         e,
	}
	if index <= e.opts.DualStackClusters {
		c.ServiceCIDRIPv6 = fmt.Sprintf("fd00:%d::/112", 100+index)
	}
	return c
}

// podRangeBase puts cluster i's PodCIDR at 10.(podRangeBase+i).0.0/16, above every
// cluster's ServiceCIDR 10.(100+i).0.0/16 for i up to MaxClusters.
const podRangeBase = 130

// MaxPodIPs is the number of distinct addresses PodIP hands out.
const MaxPodIPs = 1<<16 - 2

// PodIP is the n-th address of the cluster's PodCIDR, n from 0 to MaxPodIPs-1 (the
// network and broadcast addresses are skipped).
func (c *Cluster) PodIP(n int) string {
	if n < 0 || n >= MaxPodIPs {
		panic(fmt.Sprintf("PodIP(%d): out of range [0, %d)", n, MaxPodIPs))
	}
	prefix := netip.MustParsePrefix(c.PodCIDR).Addr().As4()
	host := n + 1
	return netip.AddrFrom4([4]byte{prefix[0], prefix[1], byte(host >> 8), byte(host)}).String()
}

// serviceRanges is the apiserver's --service-cluster-ip-range: IPv4, then IPv6 if dual-stack.
func (c *Cluster) serviceRanges() string {
	if c.ServiceCIDRIPv6 == "" {
		return c.ServiceCIDR
	}
	return c.ServiceCIDR + "," + c.ServiceCIDRIPv6
}

// bootstrap starts the cluster's apiserver, writes its kubeconfig, installs
// the CRDs and properties, and starts its controller manager if asked.
func (c *Cluster) bootstrap(ctx context.Context) error {
	dir, err := c.env.mkdir(c.ID)
	if err != nil {
		return err
	}
	c.dir = dir
	if err := c.writeCredentials(); err != nil {
		return err
	}
	c.apiserver = &proc.Process{
		Name:    c.ID + "/kube-apiserver",
		Bin:     filepath.Join(c.env.bin, "kube-apiserver"),
		Args:    c.apiserverArgs(),
		LogPath: filepath.Join(dir, "kube-apiserver.log"),
		Detach:  c.env.opts.Detach,
	}
	if err := c.StartAPIServer(ctx); err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	if err := c.seed(ctx); err != nil {
		return fmt.Errorf("%s: %w", c.ID, err)
	}
	if c.env.opts.ControllerManager {
		if err := c.startControllerManager(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) apiserverArgs() []string {
	return []string{
		"--etcd-servers=" + c.env.etcdURL,
		"--etcd-prefix=/" + c.ID,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.port),
		"--cert-dir=" + filepath.Join(c.dir, "certs"),
		"--service-cluster-ip-range=" + c.serviceRanges(),
		"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://" + c.ID + ".localenv.invalid",
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		// 1.37 refuses to reconcile the kubernetes Service endpoints to a
		// loopback address; no client here needs them.
		"--endpoint-reconciler-type=none",
		// There is no token controller unless a controller manager runs, so
		// Pods must not wait for a ServiceAccount.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--profiling=false",
	}
}

// writeCredentials writes the admin token file and the service-account key.
func (c *Cluster) writeCredentials() error {
	tokens := fmt.Sprintf("%s,admin,admin,system:masters\n", c.env.token)
	if err := os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	der := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return os.WriteFile(filepath.Join(c.dir, "sa.key"), der, 0o600)
}

// StartAPIServer starts (or restarts, after StopAPIServer) the cluster's
// apiserver on the same port and etcd prefix, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if !c.apiserver.Exited() {
		return fmt.Errorf("%s: apiserver already running (pid %d)", c.ID, c.apiserver.PID())
	}
	if err := c.apiserver.Start(); err != nil {
		return err
	}
	if err := proc.WaitHTTP(ctx, c.apiserver, c.Server+"/readyz", c.env.token, 60*time.Second); err != nil {
		return err
	}
	c.env.logf("%s: kube-apiserver ready at %s (pid %d)", c.ID, c.Server, c.apiserver.PID())
	return nil
}

// StopAPIServer stops the cluster's apiserver, which makes the cluster
// unreachable for its peers until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	c.apiserver.Stop(10 * time.Second)
	return nil
}

func (c *Cluster) writeKubeconfig() error {
	// The apiserver wrote a self-signed serving certificate for 127.0.0.1 into
	// its cert dir; clients trust exactly that.
	ca, err := os.ReadFile(filepath.Join(c.dir, "certs", "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("%s: read serving certificate: %w", c.ID, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.ID] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: c.env.token}
	cfg.Contexts[c.ID] = &clientcmdapi.Context{Cluster: c.ID, AuthInfo: "admin"}
	cfg.CurrentContext = c.ID
	c.Kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host:            c.Server,
		BearerToken:     c.env.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             200,
		Burst:           400,
		Proxy:           func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	return nil
}

func (c *Cluster) startControllerManager(ctx context.Context) error {
	c.controllerManager = &proc.Process{
		Name: c.ID + "/kube-controller-manager",
		Bin:  filepath.Join(c.env.bin, "kube-controller-manager"),
		Args: []string{
			"--kubeconfig=" + c.Kubeconfig,
			// resourcequota: quotas are enforced at admission only once it has
			// computed their usage.
			"--controllers=endpointslice,resourcequota",
			"--leader-elect=false",
			"--secure-port=0",
			"--use-service-account-credentials=false",
			"--service-cluster-ip-range=" + c.ServiceCIDR,
			// Publish each Pod change at once rather than batching for a second.
			"--endpointslice-updates-batch-period=0s",
		},
		LogPath: filepath.Join(c.dir, "kube-controller-manager.log"),
		Detach:  c.env.opts.Detach,
	}
	if err := c.controllerManager.Start(); err != nil {
		return err
	}
	// It has no health port with --secure-port=0; a quick early exit (a bad
	// flag) is what we can catch.
	select {
	case <-c.controllerManager.Done():
		return c.controllerManager.ExitError()
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	c.env.logf("%s: kube-controller-manager started (pid %d)", c.ID, c.controllerManager.PID())
	return nil
}

// APIServerPID is the PID of the cluster's running apiserver, 0 when it is stopped. Fault
// tests blackhole a cluster by sending it SIGSTOP (and SIGCONT).
func (c *Cluster) APIServerPID() int {
	if c.apiserver == nil || c.apiserver.Exited() {
		return 0
	}
	return c.apiserver.PID()
}
