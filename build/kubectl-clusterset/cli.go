package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterset/clusterset/syncer/inspect"
	"github.com/clusterset/clusterset/syncer/inspect/gather"
	"github.com/clusterset/clusterset/syncer/inspect/render"
)

// Exit codes.
const (
	exitOK         = 0
	exitDisagree   = 1 // check: some answer disagrees with the objects; or the command failed
	exitBadInput   = 2 // flags, arguments or kubeconfigs that cannot be used
	exitIncomplete = 3 // check: nothing disagrees, but something could not be checked
)

const usage = `kubectl clusterset: inspect a clusterset (KEP-1645 Multi-Cluster Services). It only reads.

Usage:
  kubectl clusterset status [NAMESPACE/NAME] [flags]   every exported service (or one) across the members
  kubectl clusterset members [flags]                   each member, its heartbeat and its syncer
  kubectl clusterset check [NAMESPACE/NAME] [flags]    ask each member's CoreDNS and compare with its objects

The members are the contexts of a kubeconfig (--kubeconfig, --contexts; default every context of
the kubeconfig kubectl reads) or the kubeconfig files of a directory (--kubeconfig-dir).

check exits 0 when every answer agrees, 1 when one disagrees, 3 when none disagrees but some
could not be checked (a member or its DNS server unreachable). Bad input exits 2.

Flags:
`

// env is what the command reads from its surroundings.
type env struct {
	stdout, stderr io.Writer
	// colour: stdout is a terminal and NO_COLOR is unset.
	colour bool
	now    func() time.Time
}

type options struct {
	kubeconfig, kubeconfigDir string
	contexts                  string
	output                    string
	timeout                   time.Duration
	syncerNamespace           string
	syncerDeployment          string
	dns                       dnsFlag
	zone                      string
}

func newFlags(o *options, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kubectl clusterset", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig whose contexts are the members (default: $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&o.contexts, "contexts", "", "comma-separated contexts of the kubeconfig to use (default: all)")
	fs.StringVar(&o.kubeconfigDir, "kubeconfig-dir", "", "directory of kubeconfig files, one member each through its current context (instead of --kubeconfig)")
	fs.StringVar(&o.output, "output", string(render.Table), "output format: table, json or yaml")
	fs.StringVar(&o.output, "o", string(render.Table), "shorthand for --output")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "bound on every API call and every DNS question")
	fs.StringVar(&o.syncerNamespace, "syncer-namespace", "clusterset-system", "namespace of the syncer's heartbeat Lease and Deployment")
	fs.StringVar(&o.syncerDeployment, "syncer-deployment", "clusterset-syncer", "name of the syncer's Deployment")
	fs.Var(&o.dns, "dns", "check: MEMBER=HOST:PORT of a member's CoreDNS, MEMBER a context, file or cluster ID; repeatable or comma-separated (default: the member's kube-dns Service, port 53)")
	fs.StringVar(&o.zone, "zone", "clusterset.local", "check: the clusterset zone")
	return fs
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	var o options
	fs := newFlags(&o, e.stderr)
	// Flags may come before the command too (kubectl clusterset --kubeconfig x status).
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitBadInput // the flag package has said why
	}
	switch {
	case len(positional) == 0:
		fs.Usage()
		return exitBadInput
	case positional[0] == "help":
		fs.SetOutput(e.stdout)
		fs.Usage()
		return exitOK
	}
	cmd, positional := positional[0], positional[1:]
	c, err := prepare(cmd, positional, o)
	if err != nil {
		fmt.Fprintf(e.stderr, "kubectl clusterset: %v\nRun 'kubectl clusterset help' for usage.\n", err)
		return exitBadInput
	}
	c.printer = render.Printer{Out: e.stdout, Format: c.format, Colour: e.colour && c.format == render.Table}
	code, err := c.run(ctx, e.now, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "kubectl clusterset %s: %v\n", cmd, err)
	}
	return code
}

// command is a validated invocation.
type command struct {
	name    string
	only    *inspect.Key
	members []gather.Member
	opts    options
	format  render.Format
	printer render.Printer
}

// prepare checks everything the user gave before anything is read.
func prepare(name string, positional []string, o options) (*command, error) {
	c := &command{name: name, opts: o}
	switch name {
	case "status", "check":
		if len(positional) > 1 {
			return nil, fmt.Errorf("%s takes at most one NAMESPACE/NAME, got %q", name, positional)
		}
	case "members":
		if len(positional) > 0 {
			return nil, fmt.Errorf("members takes no arguments, got %q", positional)
		}
	default:
		return nil, fmt.Errorf("unknown command %q: want status, members or check", name)
	}
	if len(positional) == 1 {
		k, err := inspect.ParseKey(positional[0])
		if err != nil {
			return nil, err
		}
		c.only = &k
	}
	if name != "check" && len(o.dns) > 0 {
		return nil, errors.New("--dns applies to check only")
	}
	var err error
	if c.format, err = render.ParseFormat(o.output); err != nil {
		return nil, err
	}
	if o.timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, got %s", o.timeout)
	}
	switch {
	case o.kubeconfigDir != "" && (o.kubeconfig != "" || o.contexts != ""):
		return nil, errors.New("--kubeconfig-dir cannot be combined with --kubeconfig or --contexts")
	case o.kubeconfigDir != "":
		c.members, err = gather.FromDir(o.kubeconfigDir)
	default:
		c.members, err = gather.FromKubeconfig(o.kubeconfig, splitList(o.contexts))
	}
	return c, err
}

func (c *command) run(ctx context.Context, now func() time.Time, stderr io.Writer) (int, error) {
	read := gather.Options{
		Timeout: c.opts.timeout, SyncerNamespace: c.opts.syncerNamespace, SyncerDeployment: c.opts.syncerDeployment,
		Only: c.only, KubeDNS: c.name == "check",
	}
	if c.name == "members" {
		read.Only = nil
	}
	snaps := gather.Read(ctx, c.members, read)
	switch c.name {
	case "status":
		return exitOK, c.printer.Status(inspect.Status(snaps, c.only, now()))
	case "members":
		return exitOK, c.printer.Members(inspect.Members(snaps, now()))
	}
	return c.check(snaps, stderr)
}

func (c *command) check(snaps []inspect.Snapshot, stderr io.Writer) (int, error) {
	// Cluster IDs are known only once read: an unknown --dns name is bad input when every
	// member was read, and may be an unread member's ID otherwise.
	if names, certain := c.opts.dns.unknown(snaps); len(names) > 0 {
		var have []string
		for _, s := range snaps {
			have = append(have, s.Member)
		}
		msg := fmt.Sprintf("--dns names %s, which is no member (members: %s)", strings.Join(names, ", "), strings.Join(have, ", "))
		if certain {
			return exitBadInput, errors.New(msg)
		}
		fmt.Fprintf(stderr, "kubectl clusterset check: warning: %s, or an unreachable one\n", msg)
	}
	servers := map[string]string{} // member name -> DNS address
	for _, s := range snaps {
		servers[s.Member] = c.opts.dns.server(s)
	}
	exps := inspect.Expect(snaps, c.only, c.opts.zone)
	var queries []gather.Query
	var asked []int
	for i, e := range exps {
		if e.Want != nil && servers[e.Member] != "" {
			queries = append(queries, gather.Query{Server: servers[e.Member], Name: e.Query})
			asked = append(asked, i)
		}
	}
	replies := make([]gather.Reply, len(exps))
	for j, r := range gather.Resolve(queries, c.opts.timeout) {
		replies[asked[j]] = r
	}
	results := make([]inspect.CheckResult, len(exps))
	for i, e := range exps {
		results[i] = inspect.Verdict(e, servers[e.Member], replies[i].Answer, replies[i].Err)
	}
	report := inspect.NewCheckReport(results)
	if err := c.printer.Check(report); err != nil {
		return exitDisagree, err
	}
	switch {
	case report.Mismatches > 0:
		return exitDisagree, nil
	case report.Unchecked > 0:
		return exitIncomplete, nil
	}
	return exitOK, nil
}

// parseInterspersed parses flags before, between and after the positional arguments, as
// kubectl users write them (status demo/web -o json).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional, args = append(positional, args[0]), args[1:]
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// dnsFlag is --dns: member (context, file or cluster ID) -> host:port.
type dnsFlag map[string]string

func (d *dnsFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(*d)) {
		parts = append(parts, k+"="+(*d)[k])
	}
	return strings.Join(parts, ",")
}

func (d *dnsFlag) Set(v string) error {
	if *d == nil {
		*d = dnsFlag{}
	}
	for _, item := range splitList(v) {
		member, addr, ok := strings.Cut(item, "=")
		if !ok || member == "" {
			return fmt.Errorf("%q: want MEMBER=HOST:PORT", item)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return fmt.Errorf("%q: want MEMBER=HOST:PORT: %v", item, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", item, port)
		}
		(*d)[member] = addr
	}
	return nil
}

// unknown lists the --dns entries that name no member: neither a member's name nor the cluster
// ID of one that was read, and whether that is certain (every member was read, so none of them
// can be an unread member's ID).
func (d dnsFlag) unknown(snaps []inspect.Snapshot) (names []string, certain bool) {
	known := map[string]bool{}
	certain = true
	for _, s := range snaps {
		known[s.Member], known[s.ClusterID] = true, true
		certain = certain && s.Reachable()
	}
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if !known[k] {
			names = append(names, k)
		}
	}
	return names, certain
}

// server is the DNS address of a member: --dns by member name, else by cluster ID, else its
// kube-dns Service.
func (d dnsFlag) server(s inspect.Snapshot) string {
	if addr, ok := d[s.Member]; ok {
		return addr
	}
	if addr, ok := d[s.ClusterID]; ok && s.ClusterID != "" {
		return addr
	}
	return s.KubeDNS
}
