// Command clusterset-syncer mirrors exported Services and their EndpointSlices across the
// member clusters of a clusterset (KEP-1645): derived Services, ServiceImports and mirrored
// EndpointSlices, with ServiceExport conditions. See syncer/app for the flags.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/clusterset/clusterset/syncer/app"
)

func main() {
	klog.InitFlags(nil)
	opts := app.DefaultOptions()
	opts.AddFlags(flag.CommandLine)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = klog.NewContext(ctx, klog.Background())
	if err := app.Run(ctx, opts); err != nil {
		klog.Background().Error(err, "Syncer failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}
