package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// server is one DNS server under test, running as its own process.
type server struct {
	name string
	port int
	cmd  *exec.Cmd
}

// corefiles differ only in the data plugin: the same binary, the same (minimal) chain.
func clustersetCorefile(port int, kubeconfig string) string {
	return fmt.Sprintf(`clusterset.local:%d {
    bind 127.0.0.1
    clusterset {
        kubeconfig %s
    }
}
`, port, kubeconfig)
}

func stockCorefile(port int, kubeconfig string) string {
	return fmt.Sprintf(`clusterset.local:%d {
    bind 127.0.0.1
    kubernetes clusterset.local {
        kubeconfig %s
        multicluster clusterset.local
    }
}
`, port, kubeconfig)
}

func startCoreDNS(bin, dir, name, corefile string, port int) (*server, error) {
	path := filepath.Join(dir, name+".Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return nil, err
	}
	return startProcess(dir, name, port, bin, "-conf", path)
}

func startBare(dir, kubeconfig string, port int) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startProcess(dir, "bare", port, self, "-serve-bare", "-kubeconfig", kubeconfig, "-listen", fmt.Sprintf("127.0.0.1:%d", port))
}

func startProcess(dir, name string, port int, bin string, args ...string) (*server, error) {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the bench
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	go func() { cmd.Wait(); log.Close() }()
	return &server{name: name, port: port, cmd: cmd}, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) stop() { s.cmd.Process.Kill() }

// query asks the server once over UDP.
func (s *server) query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, fmt.Sprintf("127.0.0.1:%d", s.port))
	return r, err
}

// waitUntil polls the server with a query until ok accepts the reply.
func (s *server) waitUntil(ctx context.Context, what, name string, qtype uint16, ok func(*dns.Msg) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		r, err := s.query(name, qtype)
		if err == nil && ok(r) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: last reply %v, error %v", s.name, what, r, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePort returns a port that is free on 127.0.0.1 for both TCP and UDP.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free port")
}
