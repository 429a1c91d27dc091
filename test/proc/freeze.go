package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Freeze stops pid with SIGSTOP, as a blackholed member: its connections stay open and
// nothing answers. It returns once every thread of pid has stopped, because the signal is
// delivered asynchronously and a request arriving before that is still answered. The returned
// resume sends SIGCONT; it may be called more than once and also runs at cleanup, pass or fail.
func Freeze(t testing.TB, what string, pid int) (resume func()) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("%s is not running", what)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %s: %v", what, err)
	}
	resume = sync.OnceFunc(func() {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Errorf("SIGCONT %s: %v", what, err)
		}
	})
	t.Cleanup(resume)
	deadline := time.Now().Add(10 * time.Second)
	for {
		notStopped := runningThread(pid)
		if notStopped == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGSTOP %s (pid %d): %s", what, pid, notStopped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%s (pid %d) frozen", what, pid)
	return resume
}

// runningThread names a thread of pid that is not stopped, "" when all are.
func runningThread(pid int) string {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return fmt.Sprintf("no threads of %d: %v", pid, err)
	}
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			return err.Error()
		}
		// The state follows the parenthesised command name.
		if f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(f) == 0 || f[0] != "T" {
			return fmt.Sprintf("%s: not stopped (%v)", path, f[:min(len(f), 1)])
		}
	}
	return ""
}
