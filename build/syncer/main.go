// Command clusterset-syncer mirrors exported Services and their EndpointSlices across the
// member clusters of a clusterset (KEP-1645): derived Services, ServiceImports and mirrored
// EndpointSlices, with ServiceExport conditions. See syncer/app for the flags.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/clusterset/clusterset/syncer/app"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); empty, the module version
// Go stamps into the build is used (a pseudo-version from the VCS commit).
var version string

func main() {
	klog.InitFlags(nil)
	opts := app.DefaultOptions()
	opts.Version = buildVersion()
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

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		return info.Main.Version
	}
	return ""
}
