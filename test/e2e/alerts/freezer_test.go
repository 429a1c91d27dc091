package alerts

import (
	"net"
	"sync"
	"testing"
)

// freezer is a TCP proxy to one address that can freeze: it then holds every byte in both
// directions, and new connections get nothing either, while every connection stays open. To
// the client it is a network path that went silent, as a partition leaves it.
type freezer struct {
	addr string // where it listens, host:port

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	conns  []net.Conn
	closed bool
}

// startFreezer proxies a free port of 127.0.0.1 to upstream until the test ends.
func startFreezer(t *testing.T, upstream string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{addr: ln.Addr().String()}
	f.cond = sync.NewCond(&f.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			if !f.track(c, up) {
				return
			}
			go f.pipe(up, c)
			go f.pipe(c, up)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		f.closed, f.frozen = true, false
		for _, c := range f.conns {
			c.Close()
		}
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	return f
}

// track records the connections for cleanup; false once the proxy is closed.
func (f *freezer) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	f.conns = append(f.conns, conns...)
	return true
}

// freeze stops all traffic until the test ends.
func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

// pipe copies src to dst, holding each chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			for f.frozen {
				f.cond.Wait()
			}
			f.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or closed: the other direction ends with it
			return
		}
	}
}
