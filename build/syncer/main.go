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

// version is set at link time (-ldflags "-X main.version=v1.2.3", as make build does).
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

// buildVersion is the link-time version, else the module version, else the VCS commit Go
// stamped (when it did), else "(devel)".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	switch {
	case version != "":
		return version
	case !ok:
		return ""
	case info.Main.Version != "" && info.Main.Version != "(devel)":
		return info.Main.Version
	}
	revision, dirty := "", ""
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			revision = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if revision == "" {
		return info.Main.Version
	}
	return revision + dirty
}
