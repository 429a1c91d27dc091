// Command coredns is stock CoreDNS, every plugin included, with the clusterset plugin right
// before kubernetes (see package plugins).
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/clusterset/clusterset/build/coredns/plugins"
)

func main() { coremain.Run() }
