package syncload

import (
	"context"
	"time"

	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"

	"github.com/clusterset/clusterset/syncer/informers"
)

// ExportLatencies are the delays from a ServiceExport's creation to its ServiceImport (with
// IPs) appearing.
type ExportLatencies struct {
	// PerCluster has one delay per export and cluster.
	PerCluster []time.Duration
	// ToAll has one delay per export: until the import was present in every cluster.
	ToAll []time.Duration
}

// PrepareExports creates ns in every cluster and, in the first cluster, a Service with a
// one-endpoint source slice (address PodIP(i)) for each names[i], not yet exported.
func (r *Run) PrepareExports(ctx context.Context, ns string, names []string) error {
	for _, c := range r.Clusters {
		if err := c.EnsureNamespace(ctx, ns); err != nil {
			return err
		}
	}
	src := r.Clusters[0]
	return Parallel(len(names), func(i int) error {
		return CreateExported(ctx, src, ns, names[i], []string{src.PodIP(i)}, false)
	})
}

// ExportLatency creates, in the first cluster, the ServiceExports of the Services that
// PrepareExports made, at rate per second, and measures when each import appears in every
// cluster.
func (r *Run) ExportLatency(ctx context.Context, ns string, names []string, rate int) (*ExportLatencies, error) {
	Logf("export -> ServiceImport latency: %d exports at %d/s", len(names), rate)
	src := r.Clusters[0]
	seen := NewFirstSeen(len(r.Clusters))
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for ci, c := range r.Clusters {
		Watch(watchCtx, informers.ServiceImports(c.MCS, informers.Config{}), func(obj any) {
			if si, ok := obj.(*mcsv1alpha1.ServiceImport); ok && si.Namespace == ns && len(si.Spec.IPs) > 0 {
				seen.See(ci, si.Name, time.Now())
			}
		})
	}
	start, err := Paced(len(names), rate, func(i int) string { return names[i] }, func(i int) error {
		return CreateExport(ctx, src, ns, names[i])
	})
	if err != nil {
		return nil, err
	}
	var out ExportLatencies
	if out.PerCluster, err = seen.Latencies(ctx, start, 2*time.Minute); err != nil {
		return nil, err
	}
	out.ToAll, err = seen.LatenciesToAll(ctx, start, 0)
	return &out, err
}
