package target

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// serviceCIDRs knows a target cluster's Service ranges, from its networking.k8s.io/v1
// ServiceCIDR objects. Where that API is not served or not readable, it falls back to the
// cluster IPs of the kubernetes Service, so that at least the apiserver's VIP cannot be
// published by a member; the cluster's families are then unknown.
type serviceCIDRs struct {
	kube     kubernetes.Interface
	onChange func()
	informer cache.SharedIndexInformer

	decided     atomic.Bool
	useInformer atomic.Bool
	mu          sync.RWMutex
	fallback    []netip.Prefix
}

func newServiceCIDRs(kube kubernetes.Interface, onChange func()) *serviceCIDRs {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.NetworkingV1().ServiceCIDRs().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return kube.NetworkingV1().ServiceCIDRs().Watch(ctx, o)
		},
	}
	s := &serviceCIDRs{kube: kube, onChange: onChange,
		informer: cache.NewSharedIndexInformerWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, kube),
			&networkingv1.ServiceCIDR{}, cache.SharedIndexInformerOptions{})}
	changed := func(any) {
		if s.informer.HasSynced() {
			s.onChange()
		}
	}
	_, _ = s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: changed, UpdateFunc: func(_, obj any) { changed(obj) }, DeleteFunc: changed,
	})
	return s
}

// run decides between the informer and the fallback, retrying while the cluster cannot be
// asked, and runs the informer until ctx ends.
func (s *serviceCIDRs) run(ctx context.Context, clusterID string) {
	logger := klog.FromContext(ctx).WithValues("cluster", clusterID)
	backoff := wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 10 * time.Second, Steps: 1 << 30}
	_ = wait.ExponentialBackoffWithContext(ctx, backoff, func(ctx context.Context) (bool, error) {
		_, err := s.kube.NetworkingV1().ServiceCIDRs().List(ctx, metav1.ListOptions{Limit: 1})
		switch {
		case err == nil:
			s.useInformer.Store(true)
			s.decided.Store(true)
			go s.informer.RunWithContext(ctx)
			return true, nil
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err):
			svc, gerr := s.kube.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
			if gerr != nil && !apierrors.IsNotFound(gerr) {
				return false, nil
			}
			s.mu.Lock()
			s.fallback = hostPrefixes(svc)
			s.mu.Unlock()
			logger.Info("ServiceCIDRs unavailable: only the kubernetes Service's IPs and the fixed ranges are kept out of mirrored endpoints",
				"err", err, "kubernetesIPs", s.fallback)
			s.decided.Store(true)
			return true, nil
		}
		logger.V(2).Info("Cannot read ServiceCIDRs yet, retrying", "err", err)
		return false, nil
	})
}

func (s *serviceCIDRs) hasSynced() bool {
	return s.decided.Load() && (!s.useInformer.Load() || s.informer.HasSynced())
}

// prefixes are the cluster's Service ranges (or, in fallback, the kubernetes Service's IPs).
func (s *serviceCIDRs) prefixes() []netip.Prefix {
	if !s.useInformer.Load() {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.fallback
	}
	var out []netip.Prefix
	for _, obj := range s.informer.GetStore().List() {
		for _, cidr := range obj.(*networkingv1.ServiceCIDR).Spec.CIDRs {
			if p, err := netip.ParsePrefix(cidr); err == nil {
				out = append(out, p.Masked())
			}
		}
	}
	return out
}

// families are the IP families the cluster's Service ranges serve, IPv4 first; nil when
// unknown (fallback, or no ServiceCIDR listed).
func (s *serviceCIDRs) families() []corev1.IPFamily {
	if !s.useInformer.Load() {
		return nil
	}
	out := []corev1.IPFamily{}
	for _, p := range s.prefixes() {
		f := corev1.IPv6Protocol
		if p.Addr().Is4() {
			f = corev1.IPv4Protocol
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil // none listed: as unknown, rather than serving nothing
	}
	slices.Sort(out)
	return out
}

// hostPrefixes are a Service's cluster IPs as single-address prefixes.
func hostPrefixes(svc *corev1.Service) []netip.Prefix {
	if svc == nil {
		return nil
	}
	var out []netip.Prefix
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}
