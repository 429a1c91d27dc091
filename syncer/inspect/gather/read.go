package gather

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/inspect"
	"github.com/clusterset/clusterset/syncer/liveness"
	"github.com/clusterset/clusterset/syncer/member"
)

// Options say what to read.
type Options struct {
	// Timeout bounds every API call.
	Timeout time.Duration
	// SyncerNamespace holds the syncer's heartbeat Lease and Deployment.
	SyncerNamespace string
	// SyncerDeployment is the syncer Deployment's name.
	SyncerDeployment string
	// Only narrows the reading to one service; nil reads every export and import.
	Only *inspect.Key
	// KubeDNS also reads the kube-system/kube-dns Service.
	KubeDNS bool
}

// Read reads every member in parallel. An unreachable member costs one timeout: its first
// call fails, and nothing more is asked of it.
func Read(ctx context.Context, members []Member, o Options) []inspect.Snapshot {
	snaps := make([]inspect.Snapshot, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { snaps[i] = read(ctx, m, o) })
	}
	wg.Wait()
	return snaps
}

// reader makes one member's calls, each under its own timeout. A call the apiserver refuses
// (forbidden, say) is noted and the next one made; a call that gets no answer makes the member
// unreachable, and the remaining calls are skipped.
type reader struct {
	ctx     context.Context
	timeout time.Duration
	host    string
	snap    *inspect.Snapshot
}

func (r *reader) call(what string, f func(ctx context.Context) error) {
	if !r.snap.Reachable() {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	err := f(ctx)
	var status apierrors.APIStatus
	switch {
	case err == nil:
	case errors.As(err, &status):
		r.snap.Errors = append(r.snap.Errors, fmt.Sprintf("reading %s: %v", what, err))
	default:
		r.snap.Unreachable = r.describe(err)
	}
}

// describe says why a member did not answer, shortly: client-go's error repeats the URL.
func (r *reader) describe(err error) string {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Sprintf("no answer from %s within %s", r.host, r.timeout)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return fmt.Sprintf("%s: %v", r.host, urlErr.Err)
	}
	return err.Error()
}

func read(ctx context.Context, m Member, o Options) inspect.Snapshot {
	snap := inspect.Snapshot{Member: m.Name}
	if m.Config == nil {
		snap.Unreachable = m.Err
		return snap
	}
	cfg := rest.CopyConfig(m.Config)
	cfg.Timeout = o.Timeout
	// A handful of calls: client-side rate limiting must not add to them.
	cfg.QPS, cfg.Burst = 100, 100
	kube, kubeErr := kubernetes.NewForConfig(cfg)
	mcs, mcsErr := mcsclient.NewForConfig(cfg)
	dyn, dynErr := dynamic.NewForConfig(cfg)
	if err := errors.Join(kubeErr, mcsErr, dynErr); err != nil {
		snap.Unreachable = "unusable kubeconfig: " + err.Error()
		return snap
	}
	r := &reader{ctx: ctx, timeout: o.Timeout, host: cfg.Host, snap: &snap}
	namespace, services := metav1.NamespaceAll, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName}
	if o.Only != nil {
		namespace, services.LabelSelector = o.Only.Namespace, mcsv1alpha1.LabelServiceName+"="+o.Only.Name
	}

	r.call("the ClusterProperties", func(ctx context.Context) error {
		id, err := member.Identify(ctx, dyn)
		snap.ClusterID, snap.ClusterSet = id.ClusterID, id.ClusterSet
		return err
	})
	r.call("the namespaces", func(ctx context.Context) error {
		list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err == nil {
			snap.Namespaces = []string{}
			for _, n := range list.Items {
				snap.Namespaces = append(snap.Namespaces, n.Name)
			}
		}
		return err
	})
	r.call("the ServiceExports", func(ctx context.Context) error {
		list, err := mcs.MulticlusterV1alpha1().ServiceExports(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			snap.Exports = only(list.Items, o.Only, func(e mcsv1alpha1.ServiceExport) string { return e.Name })
		}
		return err
	})
	r.call("the ServiceImports", func(ctx context.Context) error {
		list, err := mcs.MulticlusterV1alpha1().ServiceImports(namespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			snap.Imports = only(list.Items, o.Only, func(si mcsv1alpha1.ServiceImport) string { return si.Name })
		}
		return err
	})
	r.call("the derived Services", func(ctx context.Context) error {
		list, err := kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{LabelSelector: desired.ServiceImportedLabel + "=true"})
		if err == nil {
			snap.DerivedServices = list.Items
		}
		return err
	})
	r.call("the EndpointSlices", func(ctx context.Context) error {
		list, err := kube.DiscoveryV1().EndpointSlices(namespace).List(ctx, services)
		if err == nil {
			snap.Slices = list.Items
		}
		return err
	})
	r.call("the heartbeat Lease", func(ctx context.Context) error {
		lease, err := kube.CoordinationV1().Leases(o.SyncerNamespace).Get(ctx, liveness.LeaseName, metav1.GetOptions{})
		if err == nil {
			snap.Heartbeat = lease
		}
		return ignoreNotFound(err)
	})
	r.call("the syncer Deployment", func(ctx context.Context) error {
		d, err := kube.AppsV1().Deployments(o.SyncerNamespace).Get(ctx, o.SyncerDeployment, metav1.GetOptions{})
		if err == nil {
			snap.Syncer = d
		}
		return ignoreNotFound(err)
	})
	if o.KubeDNS {
		r.call("the kube-dns Service", func(ctx context.Context) error {
			svc, err := kube.CoreV1().Services(metav1.NamespaceSystem).Get(ctx, "kube-dns", metav1.GetOptions{})
			if err == nil && svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
				snap.KubeDNS = net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(dnsPort(svc)))
			}
			return ignoreNotFound(err)
		})
	}
	return snap
}

// only keeps the objects named like the one service asked for (all when none is).
func only[T any](items []T, k *inspect.Key, name func(T) string) []T {
	if k == nil {
		return items
	}
	var out []T
	for _, it := range items {
		if name(it) == k.Name {
			out = append(out, it)
		}
	}
	return out
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// dnsPort is the Service's UDP port named dns, as kubeadm names it, else 53.
func dnsPort(svc *corev1.Service) int {
	for _, p := range svc.Spec.Ports {
		if p.Protocol == corev1.ProtocolUDP && p.Name == "dns" {
			return int(p.Port)
		}
	}
	return 53
}
