package member

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		id       Identity
		expected string
		want     string
	}{
		{"member", Identity{ClusterID: "cluster-1", ClusterSet: "set"}, "", ""},
		{"no ID", Identity{ClusterSet: "set"}, "", RefusedNoClusterID},
		{"ID not a DNS label", Identity{ClusterID: "Cluster_1", ClusterSet: "set"}, "", RefusedInvalidClusterID},
		{"ID too long", Identity{ClusterID: strings.Repeat("a", 64), ClusterSet: "set"}, "", RefusedInvalidClusterID},
		{"ID of 63", Identity{ClusterID: strings.Repeat("a", 63), ClusterSet: "set"}, "", ""},
		{"other clusterset", Identity{ClusterID: "cluster-1", ClusterSet: "other"}, "", RefusedOtherClusterSet},
		{"no clusterset", Identity{ClusterID: "cluster-1"}, "", RefusedOtherClusterSet},
		{"expected ID", Identity{ClusterID: "cluster-1", ClusterSet: "set"}, "cluster-1", ""},
		{"unexpected ID", Identity{ClusterID: "cluster-1", ClusterSet: "set"}, "cluster-2", RefusedIDMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.id, "set", tt.expected)
			switch {
			case tt.want == "" && r != nil:
				t.Errorf("Check refused: %v", r)
			case tt.want != "" && (r == nil || r.Reason != tt.want):
				t.Errorf("Check = %v, want %s", r, tt.want)
			case r != nil && r.Message == "":
				t.Errorf("refusal %s without a message", r.Reason)
			}
		})
	}
}

// kubeconfig builds a member kubeconfig whose cluster and user carry the given extra YAML
// fields (one per line, already indented for their map).
func kubeconfig(server, cluster, user string) string {
	return `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: "` + server + `"
` + cluster + `
users:
- name: u
  user:
    token: t
` + user + `
contexts:
- name: x
  context: {cluster: c, user: u}
- name: unused
  context: {cluster: c, user: plugin}
current-context: x
`
}

func TestParse(t *testing.T) {
	const server = "https://127.0.0.1:6443"
	exec := "    exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: [-c, touch /tmp/x], interactiveMode: Never}"
	tests := []struct {
		name string
		data string
		// allow sets Rules.AllowExecCredentials.
		allow bool
		want  string // refusal reason; "" accepts
	}{
		{"inline token and CA", kubeconfig(server, "    certificate-authority-data: "+caData, ""), false, ""},
		{"inline client certificate", kubeconfig(server, "", "    client-certificate-data: "+caData+"\n    client-key-data: "+caData), false, ""},
		{"garbage", "not: [a kubeconfig", false, RefusedMalformed},
		{"empty", "", false, RefusedMalformed},
		{"no current context", strings.Replace(kubeconfig(server, "", ""), "current-context: x", "", 1), false, RefusedMalformed},
		{"undefined current context", strings.Replace(kubeconfig(server, "", ""), "current-context: x", "current-context: y", 1), false, RefusedMalformed},
		{"no server", kubeconfig("", "", ""), false, RefusedMalformed},
		{"exec plugin", kubeconfig(server, "", exec), false, RefusedCredentialPlugin},
		{"auth-provider", kubeconfig(server, "", "    auth-provider: {name: oidc}"), false, RefusedCredentialPlugin},
		{"token file", kubeconfig(server, "", "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token"), false, RefusedFileReference},
		{"client certificate file", kubeconfig(server, "", "    client-certificate: /etc/c.crt"), false, RefusedFileReference},
		{"client key file", kubeconfig(server, "", "    client-key: /etc/c.key"), false, RefusedFileReference},
		{"CA file", kubeconfig(server, "    certificate-authority: /etc/ca.crt", ""), false, RefusedFileReference},
		{"exec allowed", kubeconfig(server, "", exec), true, ""},
		{"token file allowed", kubeconfig(server, "", "    tokenFile: /dev/null"), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, r := Parse([]byte(tt.data), Rules{AllowExecCredentials: tt.allow})
			switch {
			case tt.want == "" && r != nil:
				t.Fatalf("Parse refused: %v", r)
			case tt.want != "" && (r == nil || r.Reason != tt.want):
				t.Fatalf("Parse = %v, want %s", r, tt.want)
			case tt.want == "" && (cfg == nil || cfg.Host != server):
				t.Fatalf("Parse gave config %+v", cfg)
			case tt.want != "" && cfg != nil:
				t.Fatalf("a refused kubeconfig gave a config")
			}
		})
	}
}

// caData is base64 of a short placeholder: Parse does not decode certificates.
const caData = "Y2E="

// TestFromDir reads a directory laid out like a mounted Secret: hidden "..data" entries and
// symlinked files; a bad file is refused on its own.
func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"b":       kubeconfig("https://127.0.0.1:6002", "", ""),
		"a":       kubeconfig("https://127.0.0.1:6001", "", ""),
		"broken":  "not: [a kubeconfig",
		"plugins": kubeconfig("https://127.0.0.1:6003", "", "    auth-provider: {name: gcp}"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FromDir(dir, Rules{})
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, c := range got {
		s := c.Key + "="
		if c.Refused != nil {
			s += c.Refused.Reason
		} else {
			s += c.Config.Host
		}
		summary = append(summary, s)
	}
	want := "file a=https://127.0.0.1:6001 file b=https://127.0.0.1:6002 file broken=Malformed file plugins=CredentialPlugin"
	if strings.Join(summary, " ") != want {
		t.Errorf("FromDir = %v, want %s", summary, want)
	}

	// A content change changes the hash; the key stays.
	before := got[0].Hash
	if err := os.WriteFile(filepath.Join(data, "a"), []byte(kubeconfig("https://127.0.0.1:6009", "", "")), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := FromDir(dir, Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Key != "file a" || again[0].Hash == before {
		t.Errorf("after a change: key %q, hash changed %v", again[0].Key, again[0].Hash != before)
	}
	if _, err := FromDir(filepath.Join(dir, "missing"), Rules{}); err == nil {
		t.Error("a missing directory gave no error")
	}
}

func TestFromSecret(t *testing.T) {
	secret := func(annotations map[string]string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "sys", Name: "m", Annotations: annotations}, Data: data}
	}
	good := map[string][]byte{SecretKey: []byte(kubeconfig("https://127.0.0.1:7001", "", ""))}
	tests := []struct {
		name         string
		secret       *corev1.Secret
		wantRefusal  string
		wantExpected string
	}{
		{"kubeconfig", secret(nil, good), "", ""},
		{"pinned ID", secret(map[string]string{ExpectedClusterIDAnnotation: "cluster-7"}, good), "", "cluster-7"},
		{"no key", secret(nil, map[string][]byte{"other": nil}), RefusedUnreadable, ""},
		{"garbage", secret(nil, map[string][]byte{SecretKey: []byte("{")}), RefusedMalformed, ""},
		{"exec", secret(nil, map[string][]byte{SecretKey: []byte(kubeconfig("https://127.0.0.1:7001", "", "    exec: {apiVersion: client.authentication.k8s.io/v1, command: touch}"))}), RefusedCredentialPlugin, ""},
	}
	hashes := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := FromSecret(tt.secret, Rules{})
			if c.Key != "secret sys/m" {
				t.Errorf("key %q", c.Key)
			}
			got := ""
			if c.Refused != nil {
				got = c.Refused.Reason
			}
			if got != tt.wantRefusal || c.ExpectedClusterID != tt.wantExpected {
				t.Errorf("refused %q expected %q, want %q and %q", got, c.ExpectedClusterID, tt.wantRefusal, tt.wantExpected)
			}
			if hashes[c.Hash] {
				t.Errorf("hash %s seen for another Secret content", c.Hash)
			}
			hashes[c.Hash] = true
		})
	}
}
