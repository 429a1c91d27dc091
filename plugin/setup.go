package clusterset

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

func init() { plugin.Register(pluginName, setup) }

// DefaultZone is served when the Corefile names no zone.
const DefaultZone = "clusterset.local."

const defaultTTL = 5

// config is the parsed Corefile stanza.
type config struct {
	kubeconfig, context string // empty kubeconfig: in-cluster config
}

func setup(c *caddy.Controller) error {
	cs, cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	kube, mc, err := clients(cfg)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	src := newSource(kube, mc)

	ctx, cancel := context.WithCancel(context.Background())
	c.OnStartup(func() error {
		go src.run(ctx, cs.update)
		return nil
	})
	c.OnShutdown(func() error {
		cancel()
		return nil
	})

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		cs.Next = next
		return cs
	})
	return nil
}

// parse reads
//
//	clusterset [ZONES...] {
//	    kubeconfig PATH [CONTEXT]
//	    ttl SECONDS
//	    fallthrough [ZONES...]
//	}
func parse(c *caddy.Controller) (*Clusterset, config, error) {
	cs := &Clusterset{ttl: defaultTTL}
	var cfg config
	if !c.Next() {
		return nil, cfg, c.ArgErr()
	}
	args := c.RemainingArgs()
	if len(args) == 0 {
		args = []string{DefaultZone}
	}
	cs.Zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
	if slices.Contains(cs.Zones, ".") {
		return nil, cfg, c.Err("the root zone cannot be a clusterset zone")
	}
	for c.NextBlock() {
		switch c.Val() {
		case "kubeconfig":
			a := c.RemainingArgs()
			if len(a) < 1 || len(a) > 2 {
				return nil, cfg, c.ArgErr()
			}
			cfg.kubeconfig = a[0]
			if len(a) == 2 {
				cfg.context = a[1]
			}
		case "ttl":
			a := c.RemainingArgs()
			if len(a) != 1 {
				return nil, cfg, c.ArgErr()
			}
			t, err := strconv.Atoi(a[0])
			if err != nil || t < 0 || t > 3600 {
				return nil, cfg, c.Errf("ttl must be an integer in [0, 3600], got %q", a[0])
			}
			cs.ttl = uint32(t)
		case "fallthrough":
			cs.Fall.SetZonesFromArgs(c.RemainingArgs())
		default:
			return nil, cfg, c.Errf("unknown property %q", c.Val())
		}
	}
	if c.Next() {
		return nil, cfg, plugin.ErrOnce
	}
	return cs, cfg, nil
}

// clients connects to the cluster: with the kubeconfig file and context if given, otherwise
// with the in-cluster service account.
func clients(cfg config) (kubernetes.Interface, mcsclient.Interface, error) {
	var rc *rest.Config
	var err error
	if cfg.kubeconfig == "" {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: cfg.context},
		).ClientConfig()
	}
	if err != nil {
		return nil, nil, err
	}
	rc.UserAgent = "coredns-clusterset"
	mc, err := mcsclient.NewForConfig(rc) // CRDs speak JSON only
	if err != nil {
		return nil, nil, err
	}
	kc := rest.CopyConfig(rc)
	kc.ContentType = "application/vnd.kubernetes.protobuf"
	kube, err := kubernetes.NewForConfig(kc)
	if err != nil {
		return nil, nil, err
	}
	return kube, mc, nil
}

// update publishes a snapshot in which the changed imports replace the previous ones.
func (c *Clusterset) update(changed map[string]*service) {
	start := time.Now()
	prev := c.snapshot.Load()
	serial := uint32(start.Unix()) // #nosec G115 -- Unix time as SOA serial, as CoreDNS does
	if prev != nil && serial <= prev.serial {
		serial = prev.serial + 1 // a changed index must have a new serial, even within a second
	}
	snap := prev.update(c.Zones, c.ttl, serial, changed)
	c.snapshot.Store(snap)
	lastPublished.Store(time.Now().UnixNano())
	rebuildDuration.Observe(time.Since(start).Seconds())
	importsIndexed.Set(float64(snap.imports))
	endpointsIndexed.Set(float64(snap.endpoints))
}
