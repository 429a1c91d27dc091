// Package plugins links the CoreDNS plugins of the clusterset CoreDNS build and places the
// clusterset plugin in CoreDNS's directive order. Importing it is all a binary or a test needs
// to run the same plugin chain as bin/coredns.
package plugins

import (
	"slices"

	_ "github.com/coredns/coredns/core" // the dns server type
	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"

	_ "github.com/clusterset/clusterset/plugin"
)

// Clusterset sits right before kubernetes, where k8s_external sits: after the plugins that
// shape every response (cache, rewrite, ...), before the other data sources.
const (
	directive = "clusterset"
	before    = "kubernetes"
)

func init() { dnsserver.Directives = insertBefore(dnsserver.Directives, directive, before) }

// insertBefore returns directives with name placed right before the directive anchor (at the end
// if anchor is missing). A name already present is left where it is.
func insertBefore(directives []string, name, anchor string) []string {
	if slices.Contains(directives, name) {
		return directives
	}
	i := slices.Index(directives, anchor)
	if i < 0 {
		i = len(directives)
	}
	return slices.Insert(slices.Clone(directives), i, name)
}
