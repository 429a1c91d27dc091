// Command clusterset-corefile patches a CoreDNS Corefile, or the ConfigMap
// that holds one, to serve clusterset.local through the clusterset plugin:
//
//	kubectl get configmap coredns -n kube-system -o yaml | clusterset-corefile patch | kubectl replace -f -
//
// Both patch and check refuse a Corefile that names a directive the clusterset
// CoreDNS build lacks, so that swapping the image cannot leave pods that fail
// to start. It also writes the Corefile of a standalone CoreDNS that serves
// only the clusterset zone, as the demo runs one per cluster. See
// corefile/README.md.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/clusterset/clusterset/build/coredns/directives"
	"github.com/clusterset/clusterset/corefile"
)

const usage = `Usage:
  clusterset-corefile patch [flags] [FILE]
        Read a Corefile, or a ConfigMap holding one (YAML or JSON), from FILE
        or standard input, and write it patched to standard output.
  clusterset-corefile check [flags] [FILE]
        Read a Corefile or ConfigMap the same way and check that the clusterset
        CoreDNS build has every directive it uses.
  clusterset-corefile local [flags]
        Write the Corefile of a CoreDNS that serves only the clusterset zone.
Run "clusterset-corefile COMMAND -h" for the flags of a command.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage marks errors in the command line, which exit with status 2.
var errUsage = errors.New("usage error")

// run runs the command line args and returns the exit status: 0 on success,
// 1 when the input cannot be patched, 2 for a wrong command line. It writes to
// stdout only on success.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var out []byte
	var err error
	switch args[0] {
	case "patch":
		out, err = patch(args[1:], stdin, stderr)
	case "check":
		out, err = check(args[1:], stdin, stderr)
	case "local":
		out, err = local(args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "clusterset-corefile: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2 // the flag package has printed the problem and the flags
	case err != nil:
		fmt.Fprintf(stderr, "clusterset-corefile %s: %v\n", args[0], err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "clusterset-corefile %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func patch(args []string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	fs := newFlagSet("patch", "[flags] [FILE]", stderr)
	var o corefile.PatchOptions
	mode := fs.String("mode", string(corefile.ModeBlock), `where to add the zone: "block" adds a server block for it, "server" adds it to the "." server block`)
	fs.StringVar(&o.Port, "port", "", "port of the \".\" server block to patch or listen beside (default: that of the only \".\" block, else 53)")
	key := fs.String("key", corefile.DefaultConfigMapKey, "data key of the Corefile in a ConfigMap")
	clustersetFlags(fs, &o.Clusterset)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	o.Mode = corefile.Mode(*mode)
	o.Directives = directives.List
	in, err := readFileArg(fs, stdin, stderr)
	if err != nil {
		return nil, err
	}
	if corefile.IsManifest(in) {
		return corefile.PatchConfigMap(in, *key, o)
	}
	return corefile.Patch(in, o)
}

func check(args []string, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	fs := newFlagSet("check", "[flags] [FILE]", stderr)
	key := fs.String("key", corefile.DefaultConfigMapKey, "data key of the Corefile in a ConfigMap")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	in, err := readFileArg(fs, stdin, stderr)
	if err != nil {
		return nil, err
	}
	if corefile.IsManifest(in) {
		if in, err = corefile.CorefileOf(in, *key); err != nil {
			return nil, err
		}
	}
	if err := corefile.CheckDirectives(in, directives.List); err != nil {
		return nil, err
	}
	return []byte("ok: the clusterset CoreDNS build has every directive of this Corefile\n"), nil
}

// readFileArg reads the input named by the one optional FILE argument of fs.
func readFileArg(fs *flag.FlagSet, stdin io.Reader, stderr io.Writer) ([]byte, error) {
	if fs.NArg() > 1 {
		fmt.Fprintf(stderr, "%s takes at most one FILE, got %q\n", fs.Name(), fs.Args())
		fs.Usage()
		return nil, errUsage
	}
	return readInput(fs.Arg(0), stdin)
}

func local(args []string, stderr io.Writer) ([]byte, error) {
	fs := newFlagSet("local", "[flags]", stderr)
	var o corefile.LocalOptions
	fs.StringVar(&o.Bind, "bind", "", "address to listen on, such as 127.0.0.2 (default: all)")
	fs.IntVar(&o.Port, "port", 53, "DNS port")
	fs.StringVar(&o.Ready, "ready", "", "listen address of the /ready endpoint, such as 127.0.0.2:8181 (default: none)")
	fs.StringVar(&o.Health, "health", "", "listen address of the /health endpoint (default: none)")
	fs.StringVar(&o.Prometheus, "prometheus", "", "listen address of the /metrics endpoint (default: none)")
	fs.IntVar(&o.Cache, "cache", 0, "seconds the cache may keep an answer (default: no cache)")
	fs.BoolVar(&o.Log, "log", false, "log every query")
	clustersetFlags(fs, &o.Clusterset)
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "local takes no arguments, got %q\n", fs.Args())
		fs.Usage()
		return nil, errUsage
	}
	return corefile.Local(o)
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clusterset-corefile %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	return err
}

// clustersetFlags registers the settings of the clusterset directive.
func clustersetFlags(fs *flag.FlagSet, c *corefile.Clusterset) {
	fs.StringVar(&c.Zone, "zone", corefile.DefaultZone, "zone to serve")
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file of the plugin (default: in-cluster config)")
	fs.StringVar(&c.Context, "context", "", "context in the kubeconfig file")
	fs.IntVar(&c.TTL, "ttl", 0, "answer TTL in seconds, 1..3600 (default: the plugin's, 5)")
	fs.Var(fallthroughFlag{c}, "fallthrough", "pass names the plugin does not know to the next plugin; =ZONE,... only for those zones")
}

// fallthroughFlag is a boolean flag that also takes a list of zones:
// -fallthrough, or -fallthrough=example.org,example.net.
type fallthroughFlag struct{ c *corefile.Clusterset }

func (f fallthroughFlag) IsBoolFlag() bool { return true }

func (f fallthroughFlag) String() string {
	if f.c == nil || !f.c.Fallthrough && len(f.c.FallthroughZones) == 0 {
		return ""
	}
	if len(f.c.FallthroughZones) == 0 {
		return "true"
	}
	return strings.Join(f.c.FallthroughZones, ",")
}

func (f fallthroughFlag) Set(s string) error {
	switch s {
	case "true":
		f.c.Fallthrough, f.c.FallthroughZones = true, nil
	case "false":
		f.c.Fallthrough, f.c.FallthroughZones = false, nil
	default:
		f.c.Fallthrough, f.c.FallthroughZones = true, strings.Split(s, ",")
	}
	return nil
}

// readInput reads the file at path, or stdin when path is "" or "-". It
// refuses empty input, which a failed "kubectl get" upstream in a pipe leaves.
func readInput(path string, stdin io.Reader) ([]byte, error) {
	var in []byte
	var err error
	if path == "" || path == "-" {
		in, err = io.ReadAll(stdin)
	} else {
		in, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(in)) == 0 {
		return nil, errors.New("the input is empty; give a Corefile or a ConfigMap")
	}
	return in, nil
}
