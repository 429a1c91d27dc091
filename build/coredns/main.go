// Command coredns is CoreDNS with the clusterset plugin and the plugins a Kubernetes cluster's
// DNS uses (see package plugins for the list).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/clusterset/clusterset/build/coredns/plugins"
)

func main() { coremain.Run() }
