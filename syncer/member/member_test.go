package member

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		id   Identity
		want string
	}{
		{"member", Identity{ClusterID: "cluster-1", ClusterSet: "set"}, ""},
		{"no ID", Identity{ClusterSet: "set"}, RefusedNoClusterID},
		{"ID not a DNS label", Identity{ClusterID: "Cluster_1", ClusterSet: "set"}, RefusedInvalidClusterID},
		{"ID too long", Identity{ClusterID: strings.Repeat("a", 64), ClusterSet: "set"}, RefusedInvalidClusterID},
		{"ID of 63", Identity{ClusterID: strings.Repeat("a", 63), ClusterSet: "set"}, ""},
		{"other clusterset", Identity{ClusterID: "cluster-1", ClusterSet: "other"}, RefusedOtherClusterSet},
		{"no clusterset", Identity{ClusterID: "cluster-1"}, RefusedOtherClusterSet},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, msg := Check(tt.id, "set")
			if reason != tt.want {
				t.Errorf("Check = %q (%s), want %q", reason, msg, tt.want)
			}
			if (reason == "") != (msg == "") {
				t.Errorf("reason %q with message %q", reason, msg)
			}
		})
	}
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:%s"}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

// TestFromDir reads a directory laid out like a mounted Secret: hidden "..data" entries and
// symlinked files.
func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, port := range map[string]string{"b": "6002", "a": "6001"} {
		if err := os.WriteFile(filepath.Join(data, name), []byte(strings.Replace(kubeconfig, "%s", port, 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, c := range got {
		hosts = append(hosts, filepath.Base(c.Origin)+"="+c.Config.Host)
	}
	if want := "a=https://127.0.0.1:6001 b=https://127.0.0.1:6002"; strings.Join(hosts, " ") != want {
		t.Errorf("FromDir = %v, want %s", hosts, want)
	}

	if err := os.WriteFile(filepath.Join(dir, "broken"), []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromDir(dir); err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a broken kubeconfig gave %v, want an error naming it", err)
	}
}

func TestFromSecrets(t *testing.T) {
	secret := func(name string, labels map[string]string, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "sys", Name: name, Labels: labels}, Data: data}
	}
	member := map[string]string{SecretLabel: "true"}
	client := fake.NewClientset(
		secret("z", member, map[string][]byte{SecretKey: []byte(strings.Replace(kubeconfig, "%s", "7002", 1))}),
		secret("y", member, map[string][]byte{SecretKey: []byte(strings.Replace(kubeconfig, "%s", "7001", 1))}),
		secret("unlabelled", nil, map[string][]byte{SecretKey: []byte("ignored")}),
	)
	got, err := FromSecrets(context.Background(), client, "sys", SecretLabel+"=true")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, c := range got {
		hosts = append(hosts, c.Origin+"="+c.Config.Host)
	}
	if want := "secret sys/y=https://127.0.0.1:7001 secret sys/z=https://127.0.0.1:7002"; strings.Join(hosts, " ") != want {
		t.Errorf("FromSecrets = %v, want %s", hosts, want)
	}

	_, _ = client.CoreV1().Secrets("sys").Create(context.Background(), secret("x", member, map[string][]byte{"other": nil}), metav1.CreateOptions{})
	if _, err := FromSecrets(context.Background(), client, "sys", SecretLabel+"=true"); err == nil || !strings.Contains(err.Error(), "sys/x") {
		t.Errorf("a Secret without the kubeconfig key gave %v, want an error naming it", err)
	}
}
