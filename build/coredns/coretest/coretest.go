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

// Reload restarts the server with corefile as the reload plugin and SIGUSR1 do (caddy's
// Instance.Restart): the new instance starts on the same sockets while the old one keeps
// answering, and the old one stops once the new one has started. The addresses stay.
func (s *Server) Reload(corefile string) error {
	mu.Lock()
	defer mu.Unlock()
	i, err := s.Instance.Restart(input(corefile))
	s.Instance = i // the old instance when the restart failed
	return err
}

// Start starts CoreDNS with corefile and stops it when the test ends. Listen on 127.0.0.1:0
// in the Corefile (e.g. "clusterset.local:0 { bind 127.0.0.1 ... }") to get free ports.
func Start(t testing.TB, corefile string) *Server {
	t.Helper()
	s, err := start(corefile)
	if err != nil {
		t.Fatalf("starting CoreDNS: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		stop(s.Instance)
	})
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
		stop(s.Instance)
	}
	return err
}

// stop stops the servers of i and runs its shutdown callbacks, as CoreDNS does when it exits.
func stop(i *caddy.Instance) {
	i.Stop()
	i.ShutdownCallbacks()
}

// input is a Corefile held in memory.
type input string

func (c input) Body() []byte       { return []byte(c) }
func (c input) Path() string       { return "Corefile" }
func (c input) ServerType() string { return "dns" }
