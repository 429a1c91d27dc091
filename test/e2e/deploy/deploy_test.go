package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/corefile"
	"github.com/clusterset/clusterset/test/localenv"
)

// stepTimeout bounds one run of a guide step; the guide's own waits are at most 5 minutes.
const stepTimeout = 6 * time.Minute

// member is one localenv cluster with typed clients; its kubectl context is named by its ID.
type member struct {
	*localenv.Cluster
	kube kubernetes.Interface
	mcs  mcsclient.Interface
}

// TestDeploy runs on one localenv clusterset of two members, shared by its subtests:
// a server-side dry-run apply of every manifest under deploy/, then the install guide of
// deploy/README.md as written, checks of what it did, DNS answers through the clusterset
// plugin, the guide's CoreDNS step repeated after an installer reverted the image, the way
// back to the recorded image, and `kubectl delete -k` of every base. One member's CoreDNS
// was created with `kubectl create`, the other's with `kubectl apply` (whose three-way merge
// a partial Deployment of ours would break).
func TestDeploy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real apiservers")
	}
	root := repoRoot(t)
	kubectl := filepath.Join(binDir(t), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("%v: build the tools with `make tools` first", err)
	}
	ctx, env, members := startClusterset(t, 2)
	kubeconfig := writeContexts(t, env)

	// localenv clusters have no DNS: install CoreDNS as kubeadm does (kubectl create) or as
	// a manifest is applied (kubectl apply), and remember its Deployment to compare with
	// after the guide.
	kubeadmCoreDNS := filepath.Join("testdata", "kubeadm-coredns.yaml")
	installedWith := []string{"create", "apply"}
	before := map[string]*appsv1.Deployment{}
	for i, m := range members {
		runKubectl(t, kubectl, m.Kubeconfig, installedWith[i%len(installedWith)], "-f", kubeadmCoreDNS)
		d, err := m.kube.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before[m.ID] = d
	}

	syncer := syncerDeployment(t, kubectl, filepath.Join(root, "deploy", "syncer"))
	startStandIns(ctx, t, members, syncer)

	t.Run("dry-run", func(t *testing.T) { testDryRunEveryBase(t, kubectl, root, members[0]) })
	vars := map[string]func(m *member) string{
		"CONTEXT":       func(m *member) string { return m.ID },
		"CLUSTER_ID":    func(m *member) string { return m.ID },
		"CLUSTERSET_ID": func(*member) string { return "clusterset-1" }, // localenv's default
		"IMAGE_REPO":    func(*member) string { return "images.invalid/clusterset" },
		"VERSION":       func(*member) string { return "v0.0.0-test" },
	}
	guide := newGuideRunner(t, kubectl, root, kubeconfig, vars)
	if !t.Run("guide", func(t *testing.T) { guide.runAll(t, members) }) {
		return
	}
	// The guide's overlays name the images from IMAGE_REPO and VERSION.
	image := func(name string) string { return vars["IMAGE_REPO"](nil) + "/" + name + ":" + vars["VERSION"](nil) }
	t.Run("coredns", func(t *testing.T) {
		for _, m := range members {
			checkCoreDNSSwap(ctx, t, m, before[m.ID], image("coredns"))
		}
	})
	t.Run("syncer-image", func(t *testing.T) {
		for _, m := range members {
			d, err := m.kube.AppsV1().Deployments(syncer.namespace).Get(ctx, syncer.name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Spec.Template.Spec.Containers[0].Image, image("clusterset-syncer"); got != want {
				t.Errorf("%s: syncer image %q, want %q", m.ID, got, want)
			}
		}
	})
	t.Run("resolve", func(t *testing.T) {
		for _, m := range members {
			checkResolves(ctx, t, m, "demo", "web")
		}
	})
	// An installer puts its CoreDNS image back; the guide says to repeat its CoreDNS step,
	// which swaps the image again, keeps the first backup and leaves the Corefile alone.
	t.Run("coredns-step-again", func(t *testing.T) {
		m := members[0]
		stock := before[m.ID].Spec.Template.Spec.Containers[0].Image
		runKubectl(t, kubectl, m.Kubeconfig, "-n", metav1.NamespaceSystem, "set", "image", "deployment/coredns", "coredns="+stock)
		cm, err := m.kube.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		guide.run(t, guide.step(t, "CoreDNS"), m)
		checkCoreDNSSwap(ctx, t, m, before[m.ID], image("coredns"))
		again, err := m.kube.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if again.ResourceVersion != cm.ResourceVersion {
			t.Errorf("the repeated patch wrote the ConfigMap (resourceVersion %s, then %s)", cm.ResourceVersion, again.ResourceVersion)
		}
		backups, err := filepath.Glob(filepath.Join(guide.dir, "*", m.ID+".coredns-image"))
		if err != nil || len(backups) != 1 {
			t.Fatalf("want one backup of the coredns image, found %q (%v)", backups, err)
		}
		if saved, err := os.ReadFile(backups[0]); err != nil || strings.TrimSpace(string(saved)) != stock {
			t.Errorf("%s holds %q (%v), want the stock image %q", backups[0], saved, err, stock)
		}
	})
	// The way back sets the recorded image: the Deployment's spec is the installer's again.
	t.Run("way-back", func(t *testing.T) {
		for _, m := range members {
			saved, err := os.ReadFile(filepath.Join(guide.dir, "backup", m.ID+".coredns-image"))
			if err != nil {
				t.Fatal(err)
			}
			runKubectl(t, kubectl, m.Kubeconfig, "-n", metav1.NamespaceSystem, "set", "image", "deployment/coredns", "coredns="+string(saved))
			after, err := m.kube.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := jsonDiff(before[m.ID].Spec, after.Spec); diff != "" {
				t.Errorf("%s: after the way back, the coredns Deployment differs from the installer's:\n%s", m.ID, diff)
			}
		}
	})
	t.Run("delete-every-base", func(t *testing.T) { testDeleteEveryBase(ctx, t, kubectl, root, members, before) })
}

// testDeleteEveryBase runs `kubectl delete -k` on every base under deploy/ in every member, and
// checks that the cluster's CoreDNS (its Deployment, ConfigMap and ServiceAccount) is still the
// one the installer created. It does not wait for the deletions to finish: without a namespace
// controller, a deleted namespace stays terminating.
func testDeleteEveryBase(ctx context.Context, t *testing.T, kubectl, root string, members []*member, before map[string]*appsv1.Deployment) {
	found, err := findManifests(os.DirFS(filepath.Join(root, "deploy")))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		for _, base := range found.bases {
			out := runKubectl(t, kubectl, m.Kubeconfig, "delete", "--ignore-not-found", "--wait=false", "-k", filepath.Join(root, "deploy", base))
			t.Logf("%s: kubectl delete -k deploy/%s:\n%s", m.ID, base, out)
		}
		d, err := m.kube.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
		switch {
		case err != nil:
			t.Errorf("%s: the coredns Deployment after deleting every base: %v", m.ID, err)
		case d.UID != before[m.ID].UID || d.DeletionTimestamp != nil:
			t.Errorf("%s: the coredns Deployment was deleted or replaced (uid %s, was %s; deletion %v)", m.ID, d.UID, before[m.ID].UID, d.DeletionTimestamp)
		}
		if _, err := m.kube.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{}); err != nil {
			t.Errorf("%s: the coredns ConfigMap after deleting every base: %v", m.ID, err)
		}
		if _, err := m.kube.CoreV1().ServiceAccounts(metav1.NamespaceSystem).Get(ctx, coreDNSAccount, metav1.GetOptions{}); err != nil {
			t.Errorf("%s: CoreDNS's ServiceAccount after deleting every base: %v", m.ID, err)
		}
	}
}

// startClusterset starts a localenv clusterset of n members for t. The context it returns logs
// to t, and ends before the apiservers stop, so that the stand-ins started with it end while
// the apiservers are up.
func startClusterset(t *testing.T, n int) (context.Context, *localenv.Env, []*member) {
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(),
		ktesting.NewLogger(t, ktesting.NewConfig(ktesting.Verbosity(1)))))
	env := localenv.StartT(t, localenv.Options{Clusters: n})
	t.Cleanup(cancel) // cleanups run last-in first-out: before localenv's Stop
	members := make([]*member, len(env.Clusters))
	for i, c := range env.Clusters {
		members[i] = newMember(t, c)
	}
	return ctx, env, members
}

func newMember(t *testing.T, c *localenv.Cluster) *member {
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	mcs, err := mcsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &member{Cluster: c, kube: kube, mcs: mcs}
}

// writeContexts writes one kubeconfig with a context per member, named by its ID, as an admin
// with several clusters has.
func writeContexts(t *testing.T, env *localenv.Env) string {
	cfg := clientcmdapi.NewConfig()
	for _, c := range env.Clusters {
		one, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		ctx := one.Contexts[one.CurrentContext]
		cfg.Clusters[c.ID] = one.Clusters[ctx.Cluster]
		cfg.AuthInfos["admin@"+c.ID] = one.AuthInfos[ctx.AuthInfo]
		cfg.Contexts[c.ID] = &clientcmdapi.Context{Cluster: c.ID, AuthInfo: "admin@" + c.ID}
	}
	cfg.CurrentContext = env.Clusters[0].ID
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// testDryRunEveryBase applies every kustomize base under deploy/ (kubectl apply -k), and every
// example manifest (kubectl apply -f), with a server-side dry run (dryRunApply).
func testDryRunEveryBase(t *testing.T, kubectl, root string, m *member) {
	deployDir := filepath.Join(root, "deploy")
	found, err := findManifests(os.DirFS(deployDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(found.bases) == 0 {
		t.Fatalf("no kustomization under %s", deployDir)
	}
	for _, base := range found.bases {
		t.Run(base, func(t *testing.T) {
			dir := filepath.Join(deployDir, base)
			dryRunApply(t, kubectl, m, runKubectl(t, kubectl, "", "kustomize", dir), "-k", dir)
		})
	}
	for _, example := range found.examples {
		t.Run(example, func(t *testing.T) {
			file := filepath.Join(deployDir, example)
			manifest, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			dryRunApply(t, kubectl, m, manifest, "-f", file)
		})
	}
}

// dryRunApply runs `kubectl apply --dry-run=server` with args, which name the objects of
// manifests, in m, and checks that kubectl reports a dry-run result for each. The namespaces
// the manifests declare or use are created for real first: a dry run creates nothing, so
// namespaced objects would otherwise be refused for a missing namespace.
func dryRunApply(t *testing.T, kubectl string, m *member, manifests []byte, args ...string) {
	namespaces, err := namespacesUsed(manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		_, err := m.kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	out := runKubectl(t, kubectl, m.Kubeconfig, append([]string{"apply", "--dry-run=server"}, args...)...)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, line := range lines {
		if !strings.HasSuffix(line, "(server dry run)") {
			t.Errorf("not a dry-run result: %q", line)
		}
	}
	t.Logf("%d objects:\n%s", len(lines), out)
}

// namespacesUsed lists, once each, the namespaces that the objects of a multi-document YAML
// stream declare (Namespace objects) or live in.
func namespacesUsed(manifests []byte) ([]string, error) {
	objs, err := decodeAll(manifests)
	var names []string
	for _, obj := range objs {
		name := obj.GetNamespace()
		if obj.GetAPIVersion() == "v1" && obj.GetKind() == "Namespace" {
			name = obj.GetName()
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, err
}

// decodeAll decodes a multi-document YAML stream.
func decodeAll(manifests []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return objs, err
		}
		if obj.Object != nil {
			objs = append(objs, obj)
		}
	}
}

// guideRunner runs the guide's steps with bash, from a copy of deploy/, with bin/kubectl and a
// freshly built clusterset-corefile first on the PATH, and a member's values of the guide's
// variables.
type guideRunner struct {
	guide guide
	dir   string   // the working directory: the admin's checkout
	env   []string // the environment without the guide's variables
	vars  map[string]func(*member) string
}

func newGuideRunner(t *testing.T, kubectl, root, kubeconfig string, vars map[string]func(*member) string) *guideRunner {
	g := loadGuide(t)
	var named []string
	for _, v := range g.variables {
		named = append(named, v.name)
	}
	if supplied := slices.Sorted(maps.Keys(vars)); !slices.Equal(slices.Sorted(slices.Values(named)), supplied) {
		t.Fatalf("the guide's variables are %q; the test supplies %q", named, supplied)
	}

	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "deploy"), os.DirFS(filepath.Join(root, "deploy"))); err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	if err := os.Symlink(kubectl, filepath.Join(tools, "kubectl")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(tools, "clusterset-corefile"), "./build/corefile")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building clusterset-corefile: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+kubeconfig,
		"HOME="+t.TempDir(), // kubectl's discovery cache
	)
	return &guideRunner{guide: g, dir: dir, env: env, vars: vars}
}

// runAll runs the steps in order: a step "in every cluster" once per member, other steps once,
// for the first member. It stops at the first step that fails.
func (r *guideRunner) runAll(t *testing.T, members []*member) {
	for _, s := range r.guide.steps {
		runFor := members[:1]
		if s.perCluster {
			runFor = members
		}
		for _, m := range runFor {
			if !t.Run(s.heading+"/"+m.ID, func(t *testing.T) { r.run(t, s, m) }) {
				t.Fatalf("the guide stops at step %q in %s", s.heading, m.ID)
			}
		}
	}
}

// step returns the step whose heading contains part.
func (r *guideRunner) step(t *testing.T, part string) step {
	for _, s := range r.guide.steps {
		if strings.Contains(s.heading, part) {
			return s
		}
	}
	t.Fatalf("the guide has no step %q", part)
	return step{}
}

// run runs one step for member m.
func (r *guideRunner) run(t *testing.T, s step, m *member) {
	env := slices.Clone(r.env)
	for _, v := range r.guide.variables {
		env = append(env, v.name+"="+r.vars[v.name](m))
	}
	ctx, cancel := context.WithTimeout(t.Context(), stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", s.script)
	cmd.Dir = r.dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s\n%s", strings.ReplaceAll(strings.TrimSpace(s.script), "\n", "\n$ "), out)
	if err != nil {
		t.Fatalf("step failed: %v", err)
	}
}

// runKubectl runs kubectl, with a kubeconfig unless it is empty, and returns its standard
// output; it fails the test on an error, with kubectl's standard error.
func runKubectl(t *testing.T, kubectl, kubeconfig string, args ...string) []byte {
	t.Helper()
	if kubeconfig != "" {
		args = append([]string{"--kubeconfig", kubeconfig}, args...)
	}
	cmd := exec.Command(kubectl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// checkCoreDNSSwap checks that the guide changed the coredns Deployment's image and nothing
// else, and added the clusterset zone to the Corefile by the default patch.
func checkCoreDNSSwap(ctx context.Context, t *testing.T, m *member, before *appsv1.Deployment, wantImage string) {
	after, err := m.kube.AppsV1().Deployments(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Spec.Template.Spec.Containers[0].Image; got != wantImage {
		t.Errorf("%s: coredns image %q, want %q", m.ID, got, wantImage)
	}
	afterSpec := after.Spec.DeepCopy()
	afterSpec.Template.Spec.Containers[0].Image = before.Spec.Template.Spec.Containers[0].Image
	if diff := jsonDiff(before.Spec, *afterSpec); diff != "" {
		t.Errorf("%s: the swap changed more than the image:\n%s", m.ID, diff)
	}

	stock, err := os.ReadFile(filepath.Join("testdata", "kubeadm-coredns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stockCorefile, err := corefileOf(stock)
	if err != nil {
		t.Fatal(err)
	}
	want, err := corefile.Patch([]byte(stockCorefile), corefile.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := m.kube.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data[corefile.DefaultConfigMapKey]; got != string(want) {
		t.Errorf("%s: Corefile after the guide:\n%s\nwant the stock one patched:\n%s", m.ID, got, want)
	}
}

// corefileOf returns the Corefile of the coredns ConfigMap in a YAML stream.
func corefileOf(manifests []byte) (string, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var cm corev1.ConfigMap
		if err := dec.Decode(&cm); err != nil {
			return "", fmt.Errorf("no coredns ConfigMap: %w", err)
		}
		if cm.Kind == "ConfigMap" && cm.Name == "coredns" {
			return cm.Data[corefile.DefaultConfigMapKey], nil
		}
	}
}

// jsonDiff lists the lines of a's and b's indented JSON found in only one of them, or returns
// "" when they are equal.
func jsonDiff(a, b any) string {
	ja, errA := json.MarshalIndent(a, "", "  ")
	jb, errB := json.MarshalIndent(b, "", "  ")
	if err := errors.Join(errA, errB); err != nil {
		return err.Error()
	}
	if bytes.Equal(ja, jb) {
		return ""
	}
	la, lb := strings.Split(string(ja), "\n"), strings.Split(string(jb), "\n")
	var diff strings.Builder
	for _, l := range la {
		if !slices.Contains(lb, l) {
			diff.WriteString("- " + l + "\n")
		}
	}
	for _, l := range lb {
		if !slices.Contains(la, l) {
			diff.WriteString("+ " + l + "\n")
		}
	}
	if diff.Len() == 0 { // the same lines, moved
		return "- " + string(ja) + "\n+ " + string(jb)
	}
	return diff.String()
}
