package controller

import (
	"slices"

	"github.com/clusterset/clusterset/syncer/metrics"
)

// MetricsState reads what the state metrics report from the caches: every admitted member
// (up when reachable says it answers and its caches have synced), the exports whose status
// this syncer writes, and each target's managed imports and mirrored slices.
func (c *Controller) MetricsState(reachable func(id string) bool) metrics.State {
	c.mu.RLock()
	var s metrics.State
	for _, m := range c.members {
		s.Members = append(s.Members, metrics.MemberState{ID: m.ID, Up: reachable(m.ID), Stale: c.opts.Stale(m.ID)})
		if c.statusOwner[m.ID] {
			s.Exports = append(s.Exports, metrics.ClusterExports{Cluster: m.ID, Exports: m.ListExports()})
		}
	}
	for id := range c.joining {
		s.Members = append(s.Members, metrics.MemberState{ID: id, Stale: c.opts.Stale(id)})
	}
	lanes := slices.Clone(c.lanes)
	c.mu.RUnlock()
	for _, l := range lanes {
		s.Targets = append(s.Targets, metrics.TargetObjects{Cluster: l.t.ID, Imports: l.t.ListImports(), Slices: l.t.ListMirroredSlices()})
	}
	return s
}
