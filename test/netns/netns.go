// Package netns builds small networks of Linux network namespaces for
// dataplane tests: namespaces, veth links and a bridge, all created by the
// test with no route out, and TCP listeners opened inside a namespace on
// behalf of the test process so that programs in it can reach an apiserver on
// the host's loopback.
package netns

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/clusterset/clusterset/test/proc"
)

// prefix marks namespaces made by these tests; the creator's PID follows, so
// that leftovers of a killed test run can be told apart and removed.
const prefix = "cstest-"

// Check reports why namespaces cannot be used here, or nil.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (apt-get install iproute2 iptables)", tool)
		}
	}
	probe, err := New("probe")
	if err != nil {
		return err
	}
	return probe.Delete()
}

// NS is a named network namespace (ip netns).
type NS struct{ Name string }

// New creates a namespace with its loopback up.
func New(tag string) (*NS, error) {
	n := &NS{Name: fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), tag)}
	if err := run("ip", "netns", "add", n.Name); err != nil {
		return nil, err
	}
	if err := n.Run("ip", "link", "set", "lo", "up"); err != nil {
		n.Delete()
		return nil, err
	}
	return n, nil
}

// Delete removes the namespace; its links go with it.
func (n *NS) Delete() error { return run("ip", "netns", "delete", n.Name) }

// Wrap is the command prefix that runs a program inside the namespace.
func (n *NS) Wrap() []string { return []string{"ip", "netns", "exec", n.Name} }

// Run runs a command inside the namespace.
func (n *NS) Run(args ...string) error { return run(append(n.Wrap(), args...)...) }

// Output runs a command inside the namespace and returns its stdout.
func (n *NS) Output(args ...string) (string, error) {
	all := append(n.Wrap(), args...)
	cmd := exec.Command(all[0], all[1:]...)
	cmd.Env = proc.CleanEnv()
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(ee.Stderr)))
	}
	return string(out), err
}

// Veth links namespace a (interface aIf, address aAddr in CIDR form) to
// namespace b (bIf, bAddr). An empty address leaves that end unaddressed, as
// for a bridge port.
func Veth(a *NS, aIf, aAddr string, b *NS, bIf, bAddr string) error {
	if err := a.Run("ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		return err
	}
	for _, end := range []struct {
		ns       *NS
		dev, adr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if end.adr != "" {
			if err := end.ns.Run("ip", "addr", "add", end.adr, "dev", end.dev); err != nil {
				return err
			}
		}
		if err := end.ns.Run("ip", "link", "set", end.dev, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Listen opens a TCP listener inside the namespace. The socket belongs to the
// namespace while the accepting code runs in the test process.
func (n *NS) Listen(addr string) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	done := make(chan result, 1)
	// A fresh goroutine on a locked thread: if switching back fails, the
	// thread is never unlocked and dies with the goroutine, so no other
	// goroutine ever runs in the wrong namespace.
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer host.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("enter %s: %w", n.Name, err)}
			return
		}
		l, lerr := net.Listen("tcp", addr)
		if err := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); err != nil {
			if l != nil {
				l.Close()
			}
			done <- result{err: fmt.Errorf("leave %s: %w", n.Name, err)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{l, lerr}
	}()
	r := <-done
	return r.l, r.err
}

// Forward accepts connections on l and relays each to target, dialled from
// the host's namespace, until the returned stop is called.
func Forward(l net.Listener, target string) (stop func()) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	})
	return func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
}

// SweepStale deletes namespaces left by earlier test processes that died
// before their cleanup ran.
func SweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pidText); os.IsNotExist(err) {
			_ = run("ip", "netns", "delete", name)
		}
	}
}

func run(args ...string) error {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = proc.CleanEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
