// Command kubectl-clusterset is the kubectl plugin `kubectl clusterset`: it shows a
// clusterset's exported services across the members (status), the members and their syncers
// (members), and checks each member's CoreDNS answers against its objects (check). It only
// reads. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{
		stdout: os.Stdout, stderr: os.Stderr, now: time.Now,
		colour: wantColour(isTerminal(os.Stdout), os.Getenv),
	})
	stop()
	os.Exit(code)
}

// wantColour: only on a terminal, and neither with NO_COLOR set (to anything) nor TERM=dumb.
func wantColour(terminal bool, getenv func(string) string) bool {
	return terminal && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// isTerminal reports whether f is a terminal (a character device such as /dev/null is not).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
