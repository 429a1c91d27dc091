package syncer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
)

// importState is one import in one cluster as the fault, membership and conformance cases
// watch it: what identifies it (the ServiceImport, its derived Service, the VIPs) and what it
// serves (type, ports, affinity, traffic policy, exporting clusters).
type importState struct {
	importUID, serviceUID types.UID
	derived               string
	ips                   []string
	spec                  string
	clusters              []string
}

// importStateOf reads the import of ns/name in c and the derived Service its annotation names.
func (s *suite) importStateOf(c *harness.Cluster, ns, name string) (importState, error) {
	si, err := c.MCS.MulticlusterV1alpha1().ServiceImports(ns).Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return importState{}, err
	}
	derived := si.Annotations[desired.DerivedServiceAnnotation]
	svc, err := c.Kube.CoreV1().Services(ns).Get(s.ctx, derived, metav1.GetOptions{})
	if err != nil {
		return importState{}, err
	}
	if owner := svc.Labels[mcsv1alpha1.LabelServiceName]; owner != name {
		return importState{}, fmt.Errorf("import %s/%s names Service %s, which belongs to %q", ns, name, derived, owner)
	}
	var ports []string
	for _, p := range si.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%s/%s/%d", p.Name, p.Protocol, p.Port))
	}
	st := importState{importUID: si.UID, serviceUID: svc.UID, derived: derived, ips: si.Spec.IPs,
		spec: fmt.Sprintf("%s %v %s %s", si.Spec.Type, ports, si.Spec.SessionAffinity, ptr.Deref(si.Spec.InternalTrafficPolicy, ""))}
	for _, cl := range si.Status.Clusters {
		st.clusters = append(st.clusters, cl.Cluster)
	}
	if !slices.Equal(si.Spec.IPs, svc.Spec.ClusterIPs) {
		return st, fmt.Errorf("import ips %v, derived Service %s clusterIPs %v", si.Spec.IPs, derived, svc.Spec.ClusterIPs)
	}
	return st, nil
}

func (a importState) String() string {
	return fmt.Sprintf("import %s, Service %s (%s), ips %v, %s, clusters %v", a.importUID, a.derived, a.serviceUID, a.ips, a.spec, a.clusters)
}

// sameIdentity: the same ServiceImport and derived Service, with the same VIPs.
func (a importState) sameIdentity(b importState) bool {
	return a.importUID == b.importUID && a.serviceUID == b.serviceUID && a.derived == b.derived && slices.Equal(a.ips, b.ips)
}

// equal: the same identity, serving the same thing from the same clusters.
func (a importState) equal(b importState) bool {
	return a.sameIdentity(b) && a.spec == b.spec && slices.Equal(a.clusters, b.clusters)
}

// watchImports samples the imports of names in namespace ns in the given clusters until the
// returned stop is called, which returns every loss, and every change that same does not
// accept, seen (one per object and kind), and the number of samples.
func (s *suite) watchImports(t *testing.T, ns string, names []string, in []*harness.Cluster, same func(a, b importState) bool) (stop func() ([]string, int)) {
	t.Helper()
	before := map[string]importState{}
	for _, c := range in {
		for _, n := range names {
			st, err := s.importStateOf(c, ns, n)
			if err != nil {
				t.Fatalf("%s: %s/%s: %v", c.ID, ns, n, err)
			}
			before[c.ID+"/"+n] = st
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	seen := map[string]bool{}
	var problems []string
	samples := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, c := range in {
				for _, n := range names {
					st, err := s.importStateOf(c, ns, n)
					if ctx.Err() != nil {
						return
					}
					was := before[c.ID+"/"+n]
					var kind, p string
					switch {
					case err != nil:
						kind, p = "lost", fmt.Sprintf("%s: %s/%s lost: %v", c.ID, ns, n, err)
					case !same(was, st):
						kind, p = "changed", fmt.Sprintf("%s: %s/%s changed from %v to %v", c.ID, ns, n, was, st)
					}
					if key := c.ID + "/" + n + "/" + kind; p != "" && !seen[key] {
						seen[key] = true
						problems = append(problems, p)
					}
				}
			}
			samples++
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() ([]string, int) {
		cancel()
		<-done
		return problems, samples
	}
}
