package syncload

import (
	"context"
	"fmt"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/desired"
	"github.com/clusterset/clusterset/syncer/informers"
	"github.com/clusterset/clusterset/test/e2e/syncer/harness"
)

// ColdLoad is a cold convergence: every cluster exports every service of Names in Namespace,
// cluster ci with Endpoints(ci, i) as the endpoints of Names[i] (at least one each).
type ColdLoad struct {
	Namespace string
	Names     []string
	Endpoints func(cluster, service int) []string
}

// ColdResult is what a cold convergence measured.
type ColdResult struct {
	Duration time.Duration
	// ControlPlaneCPU is the CPU time of the apiservers and etcd during the convergence.
	ControlPlaneCPU float64
	// MinimumWrites is the number of writes each syncer needs at least.
	MinimumWrites int
	// Syncers are the writes and resource use of each syncer once its queue is empty.
	Syncers []SyncerUsage
}

// SyncerUsage is one syncer's writes and resource use.
type SyncerUsage struct {
	Cluster string
	Writes  float64
	// WritesBy counts the writes by "kind verb result".
	WritesBy map[string]float64
	Usage    harness.Usage
}

// MinimumWrites is what one pull-mode syncer must write for services exported by every one
// of clusters clusters: per service, the derived Service, the ServiceImport and its status,
// one mirrored slice per exporting cluster, and the status of the local export.
func MinimumWrites(services, clusters int) int { return services * (3 + clusters + 1) }

// Cold creates load's sources with the syncers stopped, then starts them and waits until
// every cluster holds every import (from all clusters, with its IPs), every mirrored slice
// complete, and its exports Ready, and then until every queue is empty.
func (r *Run) Cold(ctx context.Context, load ColdLoad) (*ColdResult, error) {
	n := len(load.Names)
	Logf("cold convergence: %d clusters x %d services; creating the sources with the syncers stopped", len(r.Clusters), n)
	r.StopSyncers()
	// want[svc/cluster] is the size of the mirrored slice of svc from cluster.
	want := map[string]int{}
	var wg sync.WaitGroup
	errs := make([]error, len(r.Clusters))
	for ci, c := range r.Clusters {
		if err := c.EnsureNamespace(ctx, load.Namespace); err != nil {
			return nil, err
		}
		for i, name := range load.Names {
			want[name+"/"+c.ID] = len(load.Endpoints(ci, i))
		}
		wg.Go(func() {
			errs[ci] = Parallel(n, func(i int) error {
				return CreateExported(ctx, c, load.Namespace, load.Names[i], load.Endpoints(ci, i), true)
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}

	prog := make([]*coldProgress, len(r.Clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range r.Clusters {
		prog[ci] = r.watchCold(watchCtx, c, load.Namespace, want)
	}
	converged := func() bool {
		for _, p := range prog {
			if !p.done(n, len(want)) {
				return false
			}
		}
		return true
	}

	cpu0 := r.ControlPlaneCPU()
	Logf("starting the syncers")
	started := time.Now()
	if err := r.StartSyncers(ctx); err != nil {
		return nil, err
	}
	for !converged() {
		if time.Since(started) > 20*time.Minute || ctx.Err() != nil {
			return nil, fmt.Errorf("not converged after %v", time.Since(started))
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := &ColdResult{Duration: time.Since(started), ControlPlaneCPU: r.ControlPlaneCPU() - cpu0, MinimumWrites: MinimumWrites(n, len(r.Clusters))}
	if err := r.WaitQuiet(ctx); err != nil {
		return nil, err
	}
	for i, p := range r.Syncers {
		u, err := p.Usage()
		if err != nil {
			return nil, err
		}
		families, err := p.Scrape()
		if err != nil {
			return nil, err
		}
		by := writesBy(families[harness.WritesMetric])
		total := 0.0
		for _, v := range by {
			total += v
		}
		res.Syncers = append(res.Syncers, SyncerUsage{Cluster: r.Clusters[i].ID, Writes: total, WritesBy: by, Usage: u})
	}
	Logf("converged in %v", res.Duration.Round(time.Millisecond))
	return res, nil
}

// writesBy sums the write counters by "kind verb result".
func writesBy(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		out[labels["kind"]+" "+labels["verb"]+" "+labels["result"]] += m.GetCounter().GetValue()
	}
	return out
}

// coldProgress is what one cluster holds of a cold load, by object name.
type coldProgress struct {
	mu                        sync.Mutex
	imports, ready, fullSlice map[string]bool
}

func (p *coldProgress) set(m map[string]bool, key string, v bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m[key] = v
}

func (p *coldProgress) done(services, slices int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return countTrue(p.imports) == services && countTrue(p.fullSlice) == slices && countTrue(p.ready) == services
}

func countTrue(m map[string]bool) int {
	k := 0
	for _, v := range m {
		if v {
			k++
		}
	}
	return k
}

// watchCold follows c's imports, mirrored slices and exports in ns; want gives each
// mirrored slice's size by service/source cluster.
func (r *Run) watchCold(ctx context.Context, c *harness.Cluster, ns string, want map[string]int) *coldProgress {
	p := &coldProgress{imports: map[string]bool{}, ready: map[string]bool{}, fullSlice: map[string]bool{}}
	Watch(ctx, informers.ServiceImports(c.MCS, informers.Config{}), func(obj any) {
		if si, ok := obj.(*mcsv1alpha1.ServiceImport); ok && si.Namespace == ns {
			p.set(p.imports, si.Name, len(si.Spec.IPs) > 0 && len(si.Status.Clusters) == len(r.Clusters))
		}
	})
	Watch(ctx, informers.EndpointSlices(c.Kube, informers.Config{Selector: discoveryv1.LabelManagedBy + "=" + desired.ManagerName}), func(obj any) {
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Namespace == ns {
			key := s.Labels[mcsv1alpha1.LabelServiceName] + "/" + s.Labels[mcsv1alpha1.LabelSourceCluster]
			p.set(p.fullSlice, key, len(s.Endpoints) == want[key])
		}
	})
	Watch(ctx, informers.ServiceExports(c.MCS, informers.Config{}), func(obj any) {
		if se, ok := obj.(*mcsv1alpha1.ServiceExport); ok && se.Namespace == ns {
			p.set(p.ready, se.Name, meta.IsStatusConditionTrue(se.Status.Conditions, string(mcsv1alpha1.ServiceExportConditionReady)))
		}
	})
	return p
}
