package deploy

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The Helm chart deploy/helm/clusterset and the kustomize bases under deploy/ describe the same
// objects: the bases are the source of truth (the guide and the attack tests run them), and
// TestHelmChartMatchesBases proves that the chart, given the values that match a base, renders
// exactly that base's objects.

// releaseName and releaseNamespace are the release the tests render and install, as the
// README's Helm section does.
const (
	releaseName      = "clusterset"
	releaseNamespace = "clusterset-system"
)

// helmOnlyLabels are the labels that the chart adds to every object it renders, by Helm's
// conventions, with the value Helm gives app.kubernetes.io/managed-by. The bases have none of
// them; they identify the release, not what the object does.
var helmOnlyLabels = map[string]string{"helm.sh/chart": "", "app.kubernetes.io/instance": "", "app.kubernetes.io/managed-by": "Helm"}

// unknownToKustomize are cluster-scoped kinds of the bases that kustomize takes for namespaced:
// an overlay's namespace: gives them a namespace, which the apiserver ignores.
var unknownToKustomize = map[string]bool{"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "helm", "clusterset") }

// helmCLI runs bin/helm with config, cache and data homes of its own (never the user's) and,
// for commands that talk to a cluster, a kubeconfig.
type helmCLI struct {
	bin string
	env []string
}

func newHelm(t *testing.T, kubeconfig string) *helmCLI {
	bin := filepath.Join(binDir(t), "helm")
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skipf("%v: -short, and the tools are not built", err)
		}
		t.Fatalf("%v: build the tools with `make test-tools` first", err)
	}
	home := t.TempDir()
	env := append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+kubeconfig,
	)
	return &helmCLI{bin: bin, env: env}
}

// run runs helm and returns its standard output; the error carries its standard error.
func (h *helmCLI) run(args ...string) ([]byte, error) {
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// mustRun runs helm and fails the test on an error.
func (h *helmCLI) mustRun(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := h.run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// template renders the chart as a release in namespace with the given flags (values, and
// --include-crds for the CRDs).
func (h *helmCLI) template(t *testing.T, namespace string, flags ...string) ([]byte, error) {
	return h.run(append([]string{"template", releaseName, chartDir(t), "-n", namespace}, flags...)...)
}

// set turns key=value pairs into helm --set flags.
func set(pairs ...string) []string {
	var args []string
	for _, p := range pairs {
		args = append(args, "--set", p)
	}
	return args
}

// The values that select one part of the chart: each part off but the one named.
var (
	noSyncer      = []string{"syncer.enabled=false"}
	noReader      = []string{"memberReader.enabled=false"}
	noCoreDNS     = []string{"coredns.rbac.enabled=false"}
	withHubMember = []string{"hubMember.enabled=true"}
	// baseImage is the image the deploy/syncer base names.
	baseImage = []string{"syncer.image.repository=clusterset-syncer", "syncer.image.tag=dev"}
)

func values(parts ...[]string) []string { return set(slices.Concat(parts...)...) }

// chartCase is a set of values and what the bases render for them.
type chartCase struct {
	name string
	// namespace is the release namespace; default releaseNamespace.
	namespace string
	values    []string
	// kustomizations are rendered with kubectl kustomize, each on its own: deploy/ bases
	// (paths relative to deploy/) or overlays made by the test.
	kustomizations []string
	// files are manifests under deploy/ taken as they are.
	files []string
}

// chartCases are the values matching every base, alone and as the README's Helm section
// combines them. overlay makes a kustomization of deploy/ bases in a temporary directory.
func chartCases(t *testing.T, overlay func(body string, bases ...string) string) []chartCase {
	example, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "syncer", "member-kubeconfig-secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeAll(example)
	if err != nil || len(objs) != 1 {
		t.Fatalf("the example member Secret: %d objects, %v", len(objs), err)
	}
	kubeconfig, _, _ := unstructured.NestedString(objs[0].Object, "stringData", "kubeconfig")
	memberFile := filepath.Join(t.TempDir(), "cluster-2.kubeconfig")
	if err := os.WriteFile(memberFile, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	hubMode := overlay(`patches:
  - target: {kind: Deployment, name: clusterset-syncer}
    patch: |
      - op: test
        path: /spec/template/spec/containers/0/args/0
        value: --mode=pull
      - op: replace
        path: /spec/template/spec/containers/0/args/0
        value: --mode=hub
`, "syncer")
	const otherNamespace = "team-mcs"
	inOtherNamespace := "namespace: " + otherNamespace + "\n"
	return []chartCase{
		{name: "crds", values: values(noSyncer, noReader, noCoreDNS), kustomizations: []string{"crds"}},
		{name: "syncer, pull mode", values: values(baseImage, noReader, noCoreDNS), kustomizations: []string{"syncer"}},
		{name: "syncer, hub mode", values: values(baseImage, noReader, noCoreDNS, []string{"syncer.mode=hub"}), kustomizations: []string{hubMode}},
		{name: "member-reader", values: values(noSyncer, noCoreDNS), kustomizations: []string{"syncer/member-reader"}},
		{name: "hub-member", values: values(noSyncer, noReader, noCoreDNS, withHubMember), kustomizations: []string{"syncer/hub-member"}},
		{name: "coredns", values: values(noSyncer, noReader), kustomizations: []string{"coredns"}},
		{
			name:   "a member Secret",
			values: append(values(noSyncer, noReader, noCoreDNS), "--set-file", "members.cluster-2="+memberFile),
			files:  []string{"syncer/member-kubeconfig-secret.example.yaml"},
		},
		{name: "pull member (the defaults)", values: values(baseImage), kustomizations: []string{"crds", "syncer", "syncer/member-reader", "coredns"}},
		{
			name: "hub that is a member", values: values(baseImage, noReader, []string{"syncer.mode=hub"}, withHubMember),
			kustomizations: []string{"crds", hubMode, "syncer/hub-member", "coredns"},
		},
		{
			name: "another namespace", namespace: otherNamespace, values: values(baseImage, noCoreDNS, withHubMember),
			kustomizations: []string{"crds", overlay(inOtherNamespace, "syncer"), overlay(inOtherNamespace, "syncer/member-reader"), overlay(inOtherNamespace, "syncer/hub-member")},
		},
	}
}

// TestHelmChartMatchesBases renders the chart with helm template for each chartCase and the
// bases with kubectl kustomize, and compares the objects, less what only Helm adds: its labels,
// and the Namespace objects (Helm creates the release namespace, --create-namespace).
func TestHelmChartMatchesBases(t *testing.T) {
	root := repoRoot(t)
	kubectl := filepath.Join(binDir(t), "kubectl")
	h := newHelm(t, "")
	overlays := t.TempDir()
	n := 0
	overlay := func(body string, bases ...string) string {
		n++
		dir := filepath.Join(overlays, fmt.Sprint(n))
		var kustomization strings.Builder
		kustomization.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n")
		for _, b := range bases {
			rel, err := filepath.Rel(dir, filepath.Join(root, "deploy", b))
			if err != nil {
				t.Fatal(err)
			}
			kustomization.WriteString("  - " + rel + "\n")
		}
		kustomization.WriteString(body)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, c := range chartCases(t, overlay) {
		t.Run(c.name, func(t *testing.T) {
			ns := cmp.Or(c.namespace, releaseNamespace)
			var want []byte
			for _, k := range c.kustomizations {
				if !filepath.IsAbs(k) {
					k = filepath.Join(root, "deploy", k)
				}
				want = append(append(want, "\n---\n"...), runKubectl(t, kubectl, "", "kustomize", k)...)
			}
			for _, f := range c.files {
				manifest, err := os.ReadFile(filepath.Join(root, "deploy", f))
				if err != nil {
					t.Fatal(err)
				}
				want = append(append(want, "\n---\n"...), manifest...)
			}
			flags := c.values
			if slices.Contains(c.kustomizations, "crds") {
				flags = append(flags, "--include-crds")
			}
			got, err := h.template(t, ns, flags...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := diffObjects(t, ns, want, got); diff != "" {
				t.Errorf("helm template %s differs from the bases (- kustomize, + helm):\n%s", strings.Join(c.values, " "), diff)
			}
		})
	}
}

// diffObjects compares two renders object by object, keyed by kind, namespace and name, after
// comparable has taken out what only Helm adds; it returns "" when they hold the same objects.
func diffObjects(t *testing.T, namespace string, kustomize, helm []byte) string {
	want, err := comparable(kustomize, namespace, true)
	if err != nil {
		t.Fatalf("kustomize: %v", err)
	}
	got, err := comparable(helm, namespace, false)
	if err != nil {
		t.Fatalf("helm: %v", err)
	}
	var diff strings.Builder
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		w, inWant := want[k]
		g, inGot := got[k]
		switch {
		case !inGot:
			fmt.Fprintf(&diff, "- %s: not rendered by the chart\n", k)
		case !inWant:
			fmt.Fprintf(&diff, "+ %s: not in the bases\n", k)
		default:
			if d := jsonDiff(w.Object, g.Object); d != "" {
				fmt.Fprintf(&diff, "%s:\n%s", k, d)
			}
		}
	}
	return diff.String()
}

// comparable decodes a render into its objects by identity, without helmOnlyLabels, without
// the namespace kustomize gives objects unknownToKustomize, and without Namespace objects, each of which must be the release namespace. An object rendered twice is
// an error, unless sameTwice allows it and both are the same: bases that share a base (the
// writer part of syncer/ and syncer/hub-member/) render it once each.
func comparable(manifests []byte, namespace string, sameTwice bool) (map[string]*unstructured.Unstructured, error) {
	objs, err := decodeAll(manifests)
	if err != nil {
		return nil, err
	}
	byID := map[string]*unstructured.Unstructured{}
	for _, obj := range objs {
		if obj.GetAPIVersion() == "v1" && obj.GetKind() == "Namespace" {
			if obj.GetName() != namespace {
				return nil, fmt.Errorf("a Namespace %q besides the release namespace %q", obj.GetName(), namespace)
			}
			continue
		}
		if unknownToKustomize[obj.GetKind()] {
			obj.SetNamespace("")
		}
		labels := obj.GetLabels()
		for k, v := range helmOnlyLabels {
			if got, ok := labels[k]; ok && (v == "" || got == v) {
				delete(labels, k)
			}
		}
		if len(labels) == 0 {
			unstructured.RemoveNestedField(obj.Object, "metadata", "labels")
		} else {
			obj.SetLabels(labels)
		}
		id := fmt.Sprintf("%s %s %s/%s", obj.GetAPIVersion(), obj.GetKind(), obj.GetNamespace(), obj.GetName())
		if first, dup := byID[id]; dup && !(sameTwice && reflect.DeepEqual(first.Object, obj.Object)) {
			return nil, fmt.Errorf("%s is rendered twice", id)
		}
		byID[id] = obj
	}
	return byID, nil
}

// TestHelmLint: helm lint finds nothing, not even with --strict (warnings fail), for the
// default values and for every chartCase's.
func TestHelmLint(t *testing.T) {
	h := newHelm(t, "")
	lint := func(t *testing.T, valueFlags []string) {
		for _, strict := range [][]string{nil, {"--strict"}} {
			args := slices.Concat([]string{"lint", chartDir(t)}, strict, valueFlags)
			out, err := h.run(args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("1 chart(s) linted, 0 chart(s) failed")) {
				t.Errorf("helm %s:\n%s", strings.Join(args, " "), out)
			}
			if bytes.Contains(out, []byte("[WARNING]")) || bytes.Contains(out, []byte("[ERROR]")) {
				t.Errorf("helm %s reports findings:\n%s", strings.Join(args, " "), out)
			}
		}
	}
	t.Run("defaults", func(t *testing.T) { lint(t, nil) })
	for _, c := range chartCases(t, func(string, ...string) string { return "" }) {
		t.Run(c.name, func(t *testing.T) { lint(t, c.values) })
	}
}

// TestHelmSchemaRefusesBadValues: values.schema.json refuses values the chart would render
// into something broken, and says which value is wrong.
func TestHelmSchemaRefusesBadValues(t *testing.T) {
	h := newHelm(t, "")
	tests := []struct {
		name   string
		values []string
		// want is in the error, with the schema's location of the bad value.
		want string
	}{
		{"a mode that does not exist", set("syncer.mode=push"), "at '/syncer/mode'"},
		{"a misspelt key", set("syncer.replica=3"), "additional properties 'replica' not allowed"},
		{"a top-level key the chart does not read", set("namespace=other"), "additional properties 'namespace' not allowed"},
		{"replicas as text", []string{"--set-string", "syncer.replicas=2"}, "at '/syncer/replicas'"},
		{"two replicas without leader election", set("syncer.replicas=2", "syncer.leaderElection=false"), "at '/syncer/leaderElection'"},
		{"a cluster ID that is not a DNS label", set("clusterProperties.clusterID=Cluster_1"), "at '/clusterProperties/clusterID'"},
		{"a member TTL without a unit", set("syncer.memberTTL=60"), "at '/syncer/memberTTL'"},
		{"a zero member TTL", set("syncer.memberTTL=0s"), "at '/syncer/memberTTL'"},
		{"a member name that is not a DNS label", set("members.Cluster_2=kubeconfig"), "invalid propertyName 'Cluster_2'"},
		{"an extra argument that is not a flag", []string{"--set-json", `syncer.extraArgs=["-v=2"]`}, "at '/syncer/extraArgs/0'"},
		{"an unknown pull policy", set("syncer.image.pullPolicy=Sometimes"), "at '/syncer/image/pullPolicy'"},
		{"a namespace list given as text", set("exportNamespaces.denied=kube-system"), "at '/exportNamespaces/denied'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := h.template(t, releaseNamespace, tt.values...)
			if err == nil {
				t.Fatalf("helm template %s rendered:\n%s", strings.Join(tt.values, " "), out)
			}
			if msg := err.Error(); !strings.Contains(msg, "values don't meet the specifications of the schema") || !strings.Contains(msg, tt.want) {
				t.Errorf("want a schema error containing %q, got: %v", tt.want, err)
			}
		})
	}
	// The same flags with good values render: each refusal above is the schema's doing.
	if _, err := h.template(t, releaseNamespace, set("syncer.mode=hub", "syncer.replicas=1", "syncer.leaderElection=false",
		"clusterProperties.clusterID=cluster-1", "syncer.memberTTL=90s", "members.cluster-2=kubeconfig",
		"syncer.image.pullPolicy=Always", "exportNamespaces.denied={kube-system}")...); err != nil {
		t.Errorf("good values refused: %v", err)
	}
}
