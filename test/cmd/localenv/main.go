// Command localenv starts and stops a local clusterset of real control planes
// (one etcd, one kube-apiserver per cluster, optionally kube-controller-manager)
// that outlives the command, for the demo and for trying clusterset by hand.
//
//	localenv up   --clusters 3 --dir _out/localenv
//	localenv down --dir _out/localenv
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clusterset/clusterset/test/localenv"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "localenv:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  localenv up   [--clusters N] [--dir DIR] [--controller-manager] [--clusterset ID] [--base-port P] [--bin-dir DIR]
  localenv down [--dir DIR]`

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "up":
		return up(args[1:])
	case "down":
		return down(args[1:])
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}

const defaultDir = "_out/localenv"

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	o := localenv.Options{Detach: true, Log: os.Stderr}
	fs.IntVar(&o.Clusters, "clusters", 3, "number of member clusters")
	fs.StringVar(&o.Dir, "dir", defaultDir, "directory for data, logs and kubeconfigs")
	fs.BoolVar(&o.ControllerManager, "controller-manager", true, "run kube-controller-manager (EndpointSlice controller) per cluster")
	fs.StringVar(&o.ClusterSetID, "clusterset", "clusterset-1", "value of the clusterset.k8s.io ClusterProperty")
	fs.IntVar(&o.BasePort, "base-port", 0, "first of consecutive ports (etcd client, etcd peer, apiservers); 0 lets the kernel choose")
	fs.StringVar(&o.BinDir, "bin-dir", "", "control-plane binaries (default: bin/ of the clusterset module)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("up takes no arguments, got %q", fs.Args())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	started := time.Now()
	env, err := localenv.Start(ctx, o)
	if err != nil {
		return err
	}
	elapsed := time.Since(started)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "PROCESS\tPID\tRSS\tLOG\n")
	for _, p := range env.Processes() {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", p.Name, p.PID, rss(p.PID), p.Log)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "CLUSTER\tSERVER\tSERVICE CIDR\tKUBECONFIG\n")
	for _, c := range env.Clusters {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.ID, c.Server, c.ServiceCIDR, c.Kubeconfig)
	}
	w.Flush()
	fmt.Printf("\nready in %.1fs. Try: kubectl --kubeconfig %s get clusterproperties\nStop with: localenv down --dir %s\n",
		elapsed.Seconds(), env.Clusters[0].Kubeconfig, o.Dir)
	return nil
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	dir := fs.String("dir", defaultDir, "directory given to localenv up")
	if err := fs.Parse(args); err != nil {
		return err
	}
	stopped, err := localenv.Down(*dir)
	for _, p := range stopped {
		fmt.Printf("stopped %s (pid %d)\n", p.Name, p.PID)
	}
	if err != nil {
		return err
	}
	fmt.Printf("removed %s\n", *dir)
	return nil
}

// rss reads a process's resident set size from /proc.
func rss(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return fmt.Sprintf("%d MiB", kb/1024)
		}
	}
	return "?"
}
