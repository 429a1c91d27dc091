package corefile

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// decodeObject reads a YAML or JSON manifest into generic maps.
func decodeObject(t *testing.T, manifest []byte) map[string]any {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal(manifest, &obj); err != nil {
		t.Fatalf("decoding %s: %v", manifest, err)
	}
	return obj
}

func TestPatchConfigMap(t *testing.T) {
	tests := []struct {
		file     string
		mode     Mode
		json     bool
		comments []string // YAML comments that must survive
	}{
		{"testdata/configmap/kubeadm.yaml", ModeBlock, false, nil},
		{"testdata/configmap/kubeadm.yaml", ModeServer, false, nil},
		{"testdata/configmap/k3s.json", ModeBlock, true, nil},
		{"testdata/configmap/k3s.json", ModeServer, true, nil},
		{"testdata/configmap/handwritten.yaml", ModeBlock, false, []string{
			"# CoreDNS configuration, applied with kubectl apply -k.",
			"# keep: the EKS add-on matches on it",
			"# The server configuration.",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+string(tt.mode), func(t *testing.T) {
			in, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			o := PatchOptions{Mode: tt.mode, Clusterset: withKubeconfig}
			out, err := PatchConfigMap(in, DefaultConfigMapKey, o)
			if err != nil {
				t.Fatal(err)
			}

			// Only data.Corefile changes, to what Patch makes of it.
			before, after := decodeObject(t, in), decodeObject(t, out)
			corefile := before["data"].(map[string]any)[DefaultConfigMapKey].(string)
			want, err := Patch([]byte(corefile), o)
			if err != nil {
				t.Fatal(err)
			}
			if got := after["data"].(map[string]any)[DefaultConfigMapKey]; got != string(want) {
				t.Errorf("data.Corefile is\n%v\nwant\n%s", got, want)
			}
			before["data"].(map[string]any)[DefaultConfigMapKey] = string(want)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("the manifest changed beyond data.Corefile:\n%s", out)
			}

			if json.Valid(out) != tt.json {
				t.Errorf("output is JSON: %v, want %v", json.Valid(out), tt.json)
			}
			for _, c := range tt.comments {
				if !bytes.Contains(out, []byte(c)) {
					t.Errorf("comment %q is gone:\n%s", c, out)
				}
			}
			if again, err := PatchConfigMap(out, DefaultConfigMapKey, o); err != nil || !bytes.Equal(again, out) {
				t.Errorf("patching twice: err %v, changed %v", err, !bytes.Equal(again, out))
			}
		})
	}
}

// TestPatchConfigMapKubectlLayout checks that a manifest as kubectl prints
// it comes back in the same layout: YAML with only the new Corefile lines
// inserted, JSON with only the Corefile line changed.
func TestPatchConfigMapKubectlLayout(t *testing.T) {
	kubeadm, err := os.ReadFile("testdata/configmap/kubeadm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	indentedSequence := "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  finalizers:\n    - example.com/keep\ndata:\n  Corefile: |\n    .:53 {\n        whoami\n    }\n"
	for _, yamlIn := range [][]byte{kubeadm, []byte(indentedSequence)} {
		yamlOut, err := PatchConfigMap(yamlIn, DefaultConfigMapKey, PatchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !isInsertion(yamlIn, yamlOut) || bytes.Equal(yamlIn, yamlOut) {
			t.Errorf("YAML output is not the input with lines inserted:\n%s", yamlOut)
		}
	}

	jsonIn, err := os.ReadFile("testdata/configmap/k3s.json")
	if err != nil {
		t.Fatal(err)
	}
	jsonOut, err := PatchConfigMap(jsonIn, DefaultConfigMapKey, PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inLines, outLines := strings.Split(string(jsonIn), "\n"), strings.Split(string(jsonOut), "\n")
	if len(inLines) != len(outLines) {
		t.Fatalf("JSON output has %d lines, input %d:\n%s", len(outLines), len(inLines), jsonOut)
	}
	for i := range inLines {
		if inLines[i] != outLines[i] && !strings.HasPrefix(strings.TrimSpace(inLines[i]), `"Corefile":`) {
			t.Errorf("JSON line %d changed: %q -> %q", i+1, inLines[i], outLines[i])
		}
	}
}

func TestPatchConfigMapKey(t *testing.T) {
	in := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dns\ndata:\n  Corefile: not used\n  server.conf: |\n    .:53 {\n        whoami\n    }\n")
	out, err := PatchConfigMap(in, "server.conf", PatchOptions{Mode: ModeServer})
	if err != nil {
		t.Fatal(err)
	}
	data := decodeObject(t, out)["data"].(map[string]any)
	if data["Corefile"] != "not used" || !strings.Contains(data["server.conf"].(string), "clusterset clusterset.local") {
		t.Errorf("got data %q, want only server.conf patched", data)
	}
}

func TestPatchConfigMapErrors(t *testing.T) {
	cm := func(data string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\ndata:\n" + data
	}
	tests := []struct {
		name, in, want string
	}{
		{"list", "apiVersion: v1\nkind: List\nitems: []\n", "the input is v1 List, not a v1 ConfigMap"},
		{"secret", "apiVersion: v1\nkind: Secret\ndata: {}\n", "the input is v1 Secret, not a v1 ConfigMap"},
		{"no such key", cm("  other: x\n"), `ConfigMap kube-system/coredns has no data key "Corefile"`},
		{"no data", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\n", `ConfigMap kube-system/coredns has no data key "Corefile"`},
		{"not a string", cm("  Corefile: 5\n"), `data key "Corefile" is not a string`},
		{"two documents", cm("  Corefile: x\n") + "---\n" + cm("  Corefile: y\n"), "more than one YAML document"},
		{"two JSON values", `{"apiVersion":"v1","kind":"ConfigMap"} {}`, "more than one JSON value"},
		{"broken JSON", `{"apiVersion":"v1",`, "reading the ConfigMap as JSON"},
		{"broken YAML", "apiVersion: v1\nkind: [\n", "reading the ConfigMap as YAML"},
		{"alias", "apiVersion: v1\nkind: ConfigMap\nx: &c \".:53 {\\n}\\n\"\ndata:\n  Corefile: *c\n", "not a plain YAML string"},
		{"malformed Corefile", cm("  Corefile: |\n    .:53 {\n        errors\n"), `line 1: server block ".:53" is not closed`},
		{"conflict", cm("  Corefile: |\n    .:53 {\n        kubernetes clusterset.local\n    }\n"), `directive "kubernetes" in server block ".:53" (line 1) already serves clusterset.local`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := PatchConfigMap([]byte(tt.in), DefaultConfigMapKey, PatchOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || out != nil {
				t.Fatalf("PatchConfigMap: %q, %v; want no output and an error containing %q", out, err, tt.want)
			}
		})
	}
}

func TestIsManifest(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"YAML ConfigMap", "apiVersion: v1\nkind: ConfigMap\n", true},
		{"JSON ConfigMap", `{"apiVersion": "v1", "kind": "ConfigMap"}`, true},
		{"YAML List", "apiVersion: v1\nkind: List\nitems: []\n", true},
		{"kubeadm Corefile", ".:53 {\n    errors\n    cache 30\n}\n", false},
		{"Corefile with tabs", ".:53 {\n\terrors\n}\n", false},
		{"Corefile with a colon key", "clusterset.local:53 {\n    errors\n}\n", false},
		{"plain mapping", "a: b\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := IsManifest([]byte(tt.in)); got != tt.want {
			t.Errorf("%s: IsManifest = %v, want %v", tt.name, got, tt.want)
		}
	}
}
