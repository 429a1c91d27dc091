// Package plugins links every plugin of stock CoreDNS and the clusterset plugin, and places
// clusterset in CoreDNS's directive order, right before kubernetes. Importing it is all a binary
// or a test needs to run the same plugin chain as bin/coredns: any Corefile that starts on the
// stock CoreDNS image of the pinned version starts on this build.
package plugins

import (
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	// Every stock plugin, as CoreDNS's own main package links them: the list CoreDNS generates
	// from its plugin.cfg, so it cannot drift from the pinned version.
	_ "github.com/coredns/coredns/core/plugin"

	"github.com/clusterset/clusterset/build/coredns/directives"
	_ "github.com/clusterset/clusterset/plugin"
)

// stockDirectives is the directive list of the pinned CoreDNS, read before init splices
// clusterset into it.
var stockDirectives = slices.Clone(dnsserver.Directives)

func init() { dnsserver.Directives = directives.Splice(stockDirectives) }
