package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/clusterset/clusterset/test/bindir"
	"github.com/clusterset/clusterset/test/localenv"
)

// kubectl runs bin/kubectl against a cluster, without the environment's
// proxies, and returns its standard output.
func kubectl(t *testing.T, c *localenv.Cluster, stdin []byte, args ...string) ([]byte, error) {
	t.Helper()
	path := bindir.Require(t, "kubectl")["kubectl"]
	cmd := exec.Command(path, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !strings.EqualFold(name, "http_proxy") && !strings.EqualFold(name, "https_proxy") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NO_PROXY=*", "no_proxy=*")
	out, err := cmd.Output()
	if err != nil {
		return nil, &kubectlError{err, stderr.String()}
	}
	return out, nil
}

type kubectlError struct {
	err    error
	stderr string
}

func (e *kubectlError) Error() string { return e.err.Error() + ": " + e.stderr }

// patchCommand runs "clusterset-corefile patch args..." in-process on in.
func patchCommand(t *testing.T, in []byte, args ...string) []byte {
	t.Helper()
	r := runCommand(t, string(in), append([]string{"patch"}, args...)...)
	if r.code != 0 {
		t.Fatalf("patch: exit %d: %s", r.code, r.stderr)
	}
	return []byte(r.stdout)
}

// TestKubectlPipeline runs
//
//	kubectl get configmap coredns -n kube-system -o yaml | clusterset-corefile patch | kubectl replace -f -
//
// against a real kube-apiserver: the first run patches, a second run (JSON
// this time) changes nothing, and a run on a stale copy fails at replace
// instead of losing a change made in between.
func TestKubectlPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a kube-apiserver")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := localenv.StartT(t, localenv.Options{Clusters: 1})
	cluster := env.Clusters[0]
	client, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	configMaps := client.CoreV1().ConfigMaps("kube-system")
	kubeadm := readFile(t, examples+"kubeadm.Corefile")
	if _, err := configMaps.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system"},
		Data:       map[string]string{"Corefile": kubeadm},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	get := []string{"get", "configmap", "coredns", "-n", "kube-system"}
	replace := []string{"replace", "-f", "-"}

	// Patch.
	manifest, err := kubectl(t, cluster, nil, append(get, "-o", "yaml")...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubectl(t, cluster, patchCommand(t, manifest, kubeconfigFlags...), replace...); err != nil {
		t.Fatal(err)
	}
	cm, err := configMaps.Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := readFile(t, testdata+"golden/kubeadm.block.Corefile"); cm.Data["Corefile"] != want {
		t.Fatalf("stored Corefile is\n%s\nwant\n%s", cm.Data["Corefile"], want)
	}

	// Patch again, through JSON: nothing changes.
	manifest, err = kubectl(t, cluster, nil, append(get, "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if again := patchCommand(t, manifest, kubeconfigFlags...); !bytes.Equal(again, manifest) {
		t.Fatalf("patching a patched ConfigMap changed it:\n%s", again)
	}
	if _, err := kubectl(t, cluster, manifest, replace...); err != nil {
		t.Fatal(err)
	}
	if after, err := configMaps.Get(ctx, "coredns", metav1.GetOptions{}); err != nil || after.Data["Corefile"] != cm.Data["Corefile"] {
		t.Fatalf("after replacing with the unchanged manifest: %v, Corefile\n%s", err, after.Data["Corefile"])
	}

	// A stale copy: someone changes the ConfigMap between get and replace.
	cm.Data["Corefile"] = kubeadm
	if cm, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stale, err := kubectl(t, cluster, nil, append(get, "-o", "yaml")...)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["NodeHosts"] = "10.0.0.1 node-1\n"
	if _, err := configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = kubectl(t, cluster, patchCommand(t, stale, kubeconfigFlags...), replace...)
	if err == nil || !strings.Contains(err.Error(), "the object has been modified") {
		t.Fatalf("replace with a stale ConfigMap: err %v, want a conflict", err)
	}
	final, err := configMaps.Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if final.Data["NodeHosts"] == "" || final.Data["Corefile"] != kubeadm {
		t.Errorf("the concurrent change was lost: %v", final.Data)
	}
}
