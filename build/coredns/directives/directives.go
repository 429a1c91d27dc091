// Package directives is the directive list of the clusterset CoreDNS build: every directive of
// stock CoreDNS, in stock order, with clusterset right before kubernetes. It holds no plugin, so
// a tool such as clusterset-corefile can check a Corefile against the build without linking
// CoreDNS. List is generated from the pinned CoreDNS module by "go generate"; the test of
// package plugins fails when it drifts from what bin/coredns runs.
package directives

//go:generate go run ./gen

import "slices"

const (
	// Clusterset is the directive of the clusterset plugin.
	Clusterset = "clusterset"
	// anchor is the directive clusterset goes before: after the plugins that shape every
	// response (cache, rewrite, ...) and k8s_external, before the other data sources.
	anchor = "kubernetes"
)

// Splice returns stock with clusterset placed right before kubernetes, or at the end if stock
// has no kubernetes. A list that already holds clusterset is returned as it is. stock is not
// modified.
func Splice(stock []string) []string {
	if slices.Contains(stock, Clusterset) {
		return slices.Clone(stock)
	}
	i := slices.Index(stock, anchor)
	if i < 0 {
		i = len(stock)
	}
	return slices.Insert(slices.Clone(stock), i, Clusterset)
}
