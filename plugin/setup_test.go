package clusterset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/fall"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		serverKeys []string
		zones      []string
		ttl        uint32
		cfg        config
		fall       fall.F
		timeoutSet bool   // cfg holds the startup timeout; otherwise the default is expected
		err        string // substring of the error; "" for success
	}{
		{name: "defaults", input: "clusterset", zones: []string{"clusterset.local."}, ttl: 5},
		{name: "default zone ignores server block", input: "clusterset", serverKeys: []string{"."}, zones: []string{"clusterset.local."}, ttl: 5},
		{name: "zones", input: "clusterset mcs.example CLUSTERSET.local", zones: []string{"mcs.example.", "clusterset.local."}, ttl: 5},
		{name: "all options", input: `clusterset {
			kubeconfig /etc/kube.conf ctx-1
			ttl 30
			fallthrough
		}`, zones: []string{"clusterset.local."}, ttl: 30, cfg: config{kubeconfig: "/etc/kube.conf", context: "ctx-1"}, fall: fall.Root},
		{name: "kubeconfig without context", input: "clusterset {\nkubeconfig /k\n}", zones: []string{"clusterset.local."}, ttl: 5, cfg: config{kubeconfig: "/k"}},
		{name: "fallthrough zones", input: "clusterset {\nfallthrough a.clusterset.local b.clusterset.local\n}", zones: []string{"clusterset.local."}, ttl: 5,
			fall: fall.F{Zones: []string{"a.clusterset.local.", "b.clusterset.local."}}},
		{name: "ttl 0", input: "clusterset {\nttl 0\n}", zones: []string{"clusterset.local."}, ttl: 0},
		{name: "ttl 3600", input: "clusterset {\nttl 3600\n}", zones: []string{"clusterset.local."}, ttl: 3600},
		{name: "startup_timeout", input: "clusterset {\nstartup_timeout 1m30s\n}", zones: []string{"clusterset.local."}, ttl: 5,
			cfg: config{startupTimeout: 90 * time.Second}, timeoutSet: true},
		{name: "startup_timeout 0 does not wait", input: "clusterset {\nstartup_timeout 0s\n}", zones: []string{"clusterset.local."}, ttl: 5, timeoutSet: true},

		{name: "ttl too big", input: "clusterset {\nttl 3601\n}", err: "ttl must be an integer in [0, 3600]"},
		{name: "ttl negative", input: "clusterset {\nttl -1\n}", err: "ttl must be an integer in [0, 3600]"},
		{name: "ttl not a number", input: "clusterset {\nttl five\n}", err: "ttl must be an integer in [0, 3600]"},
		{name: "ttl missing", input: "clusterset {\nttl\n}", err: "Wrong argument count"},
		{name: "ttl twice", input: "clusterset {\nttl 1 2\n}", err: "Wrong argument count"},
		{name: "kubeconfig missing", input: "clusterset {\nkubeconfig\n}", err: "Wrong argument count"},
		{name: "kubeconfig too many", input: "clusterset {\nkubeconfig a b c\n}", err: "Wrong argument count"},
		{name: "unknown property", input: "clusterset {\nendpoint http://x\n}", err: `unknown property "endpoint"`},
		{name: "twice", input: "clusterset\nclusterset", err: "this plugin can only be used once per Server Block"},
		{name: "startup_timeout not a duration", input: "clusterset {\nstartup_timeout 5\n}", err: `startup_timeout must be a duration of 0s or more, such as 5s, got "5"`},
		{name: "startup_timeout negative", input: "clusterset {\nstartup_timeout -1s\n}", err: "startup_timeout must be a duration of 0s or more"},
		{name: "startup_timeout missing", input: "clusterset {\nstartup_timeout\n}", err: "Wrong argument count"},
		{name: "root zone", input: "clusterset .", err: "the root zone cannot be a clusterset zone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := caddy.NewTestController("dns", tc.input)
			c.ServerBlockKeys = tc.serverKeys
			cs, cfg, err := parse(c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := tc.cfg
			if !tc.timeoutSet {
				want.startupTimeout = defaultStartupTimeout
			}
			if !slices.Equal(cs.Zones, tc.zones) || cs.ttl != tc.ttl || cfg != want || !cs.Fall.Equal(tc.fall) {
				t.Errorf("got zones %v ttl %d cfg %+v fall %v; want %v %d %+v %v", cs.Zones, cs.ttl, cfg, cs.Fall, tc.zones, tc.ttl, want, tc.fall)
			}
		})
	}
}

// A Corefile that parses but names an unusable kubeconfig fails at startup, saying why.
func TestSetupKubeconfigErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("{not yaml: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, input, err string
	}{
		{"missing file", "clusterset {\nkubeconfig " + filepath.Join(dir, "nope") + "\n}", "nope"},
		{"garbage file", "clusterset {\nkubeconfig " + garbage + "\n}", "garbage"},
		{"unknown context", "clusterset {\nkubeconfig " + writeKubeconfig(t, "https://127.0.0.1:1") + " other\n}", `context "other" does not exist`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := setup(caddy.NewTestController("dns", tc.input))
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "plugin/clusterset") {
				t.Errorf("error %v, want one from plugin/clusterset containing %q", err, tc.err)
			}
		})
	}
}

func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "` + server + `"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: ctx, context: {cluster: c, user: u}}]
current-context: ctx
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
