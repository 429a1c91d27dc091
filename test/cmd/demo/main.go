// Command demo runs clusterset's main job on the embedded default: three local
// clusters of real apiservers, a syncer and a CoreDNS each, two exported
// Services, and dig answering. It stays up until Ctrl-C; --smoke checks the
// answers, tears down and exits non-zero on a mismatch.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/clusterset/clusterset/test/demo"
)

func main() {
	var o demo.Options
	flag.BoolVar(&o.Smoke, "smoke", false, "check the answers, tear down, and exit non-zero on a mismatch")
	flag.StringVar(&o.Dir, "dir", "", "keep data and logs here (default: a temp dir removed at exit)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
