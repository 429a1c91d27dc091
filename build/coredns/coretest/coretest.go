// Package coretest starts in-process CoreDNS servers from a Corefile, with the plugin chain of
// bin/coredns, for tests.
package coretest

import (
	"sync"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	_ "github.com/clusterset/clusterset/build/coredns/plugins"
)

// caddy keeps global state while starting instances.
var mu sync.Mutex

// Server is a running CoreDNS instance.
type Server struct {
	Instance *caddy.Instance
	UDP, TCP string // addresses of the first server block
}

// Start starts CoreDNS with corefile and stops it when the test ends. Listen on 127.0.0.1:0
// in the Corefile (e.g. "clusterset.local:0 { bind 127.0.0.1 ... }") to get free ports.
func Start(t testing.TB, corefile string) *Server {
	t.Helper()
	s, err := start(corefile)
	if err != nil {
		t.Fatalf("starting CoreDNS: %v", err)
	}
	t.Cleanup(func() { s.Instance.Stop() })
	return s
}

func start(corefile string) (*Server, error) {
	mu.Lock()
	defer mu.Unlock()
	caddy.Quiet = true
	dnsserver.Quiet = true
	i, err := caddy.Start(input(corefile))
	if err != nil {
		return nil, err
	}
	s := &Server{Instance: i}
	if srvs := i.Servers(); len(srvs) > 0 {
		if u := srvs[0].LocalAddr(); u != nil {
			s.UDP = u.String()
		}
		if a := srvs[0].Addr(); a != nil {
			s.TCP = a.String()
		}
	}
	return s, nil
}

// StartErr starts CoreDNS with corefile and returns the startup error, stopping the instance
// if it did start. It is for tests of Corefiles that must be refused.
func StartErr(corefile string) error {
	s, err := start(corefile)
	if err == nil {
		s.Instance.Stop()
	}
	return err
}

// input is a Corefile held in memory.
type input string

func (c input) Body() []byte       { return []byte(c) }
func (c input) Path() string       { return "Corefile" }
func (c input) ServerType() string { return "dns" }
