// Package proc starts and stops the local processes of tests, the demo and
// benchmarks (control planes, syncers, CoreDNS) by PID, with their output in
// log files and no HTTP proxy in their environment.
package proc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is one local process. It remembers its command line so that it can
// be started again on the same ports and data.
type Process struct {
	Name    string   // e.g. "etcd", "cluster-1/kube-apiserver"
	Bin     string   // path of the binary
	Args    []string // arguments
	LogPath string   // stdout and stderr are appended here
	Detach  bool     // survive the parent (localenv up); otherwise die with it

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status, valid once done is closed
}

// Start starts the process; it may be called again after it has exited.
func (p *Process) Start() error {
	logFile, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = CleanEnv()
	// A process group of its own lets Stop signal only what we started, and
	// keeps Ctrl-C in the parent's terminal from racing our orderly shutdown.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if p.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// If the test binary is killed, its control planes go with it.
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.done, p.err = cmd, make(chan struct{}), nil
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return nil
}

// PID is the process ID, or 0 before Start.
func (p *Process) PID() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited reports whether the process is not running.
func (p *Process) Exited() bool {
	if p.done == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process exits.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, waits up to grace, then SIGKILLs. It only ever signals
// the PID it started.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// ExitError describes an early exit, with the end of the process's log, which
// is where the apiserver or etcd says why (a port in use, a bad flag, …).
func (p *Process) ExitError() error {
	return fmt.Errorf("%s exited early (%v); last log lines from %s:\n%s", p.Name, p.err, p.LogPath, Tail(p.LogPath, 15))
}

// Tail returns the last lines of a log file, indented, for error messages.
func Tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "  " + strings.Join(all, "\n  ")
}

// CleanEnv is the parent's environment without HTTP proxy variables: every
// connection a control plane makes here is to 127.0.0.1.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(name) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Alive reports whether pid is a live process whose command line mentions
// marker. The marker (our working directory) guards against a recycled PID
// that now belongs to somebody else.
func Alive(pid int, marker string) bool {
	if pid <= 0 {
		return false
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return false
	}
	if stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat")); err == nil {
		// A zombie has exited; only its parent's wait is missing.
		if _, rest, ok := bytes.Cut(stat, []byte(") ")); ok && len(rest) > 0 && rest[0] == 'Z' {
			return false
		}
	}
	return bytes.Contains(cmdline, []byte(marker))
}

// Kill stops, by PID, a detached process recorded by an earlier run: SIGTERM,
// then SIGKILL after grace. marker guards against a recycled PID.
func Kill(pid int, marker string, grace time.Duration) error {
	if !Alive(pid, marker) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid, marker) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for i := 0; i < 100 && Alive(pid, marker); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// WaitHTTP polls url until it answers 200, the process exits, or the timeout.
func WaitHTTP(ctx context.Context, p *Process, url, token string, timeout time.Duration) error {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			// Only a readiness probe of a server we just started on loopback;
			// clients trust its self-signed certificate through their kubeconfig.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
		},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Done():
			return p.ExitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s; last log lines:\n%s", p.Name, url, timeout, Tail(p.LogPath, 15))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreePorts asks the kernel for n distinct free TCP ports on host. The
// listeners are held until all are chosen so that no port is handed out twice.
func FreePorts(host string, n int) ([]int, error) {
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("find a free port on %s: %w", host, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
