package corefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// DefaultConfigMapKey is the data key of the Corefile in the CoreDNS
// ConfigMap of kubeadm, k3s and EKS.
const DefaultConfigMapKey = "Corefile"

// IsManifest reports whether in is a Kubernetes object manifest, YAML or JSON,
// rather than a Corefile.
func IsManifest(in []byte) bool {
	var obj map[string]any
	if yaml.Unmarshal(in, &obj) != nil {
		return false
	}
	_, hasKind := obj["kind"]
	_, hasVersion := obj["apiVersion"]
	return hasKind && hasVersion
}

// PatchConfigMap applies Patch to the Corefile under data[key] of a ConfigMap
// manifest, YAML or JSON as kubectl prints it, and returns the manifest in the
// same format. Only that value changes: other data keys and the metadata,
// resourceVersion included, stay, so that "kubectl replace" fails rather than
// overwrite a ConfigMap changed in between. YAML is written again with its
// comments, key order and sequence indentation, so kubectl's output comes back
// with only the new lines; JSON is written with sorted keys and four-space
// indentation, as kubectl prints it. An already patched manifest is returned
// byte for byte.
func PatchConfigMap(manifest []byte, key string, o PatchOptions) ([]byte, error) {
	if bytes.HasPrefix(bytes.TrimSpace(manifest), []byte("{")) {
		return patchConfigMapJSON(manifest, key, o)
	}
	return patchConfigMapYAML(manifest, key, o)
}

func patchConfigMapJSON(manifest []byte, key string, o PatchOptions) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("corefile: reading the ConfigMap as JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("corefile: the input holds more than one JSON value; give one ConfigMap")
	}
	patched, changed, err := patchData(obj, key, o)
	if err != nil || !changed {
		return manifestOrNil(manifest, err)
	}
	obj["data"].(map[string]any)[key] = string(patched)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(obj); err != nil {
		return nil, fmt.Errorf("corefile: writing the ConfigMap: %w", err)
	}
	return out.Bytes(), nil
}

func patchConfigMapYAML(manifest []byte, key string, o PatchOptions) ([]byte, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("corefile: reading the ConfigMap as YAML: %w", err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("corefile: the input holds more than one YAML document; give one ConfigMap")
	}
	var obj map[string]any
	if err := doc.Decode(&obj); err != nil {
		return nil, fmt.Errorf("corefile: the input is not a Kubernetes object: %w", err)
	}
	patched, changed, err := patchData(obj, key, o)
	if err != nil || !changed {
		return manifestOrNil(manifest, err)
	}
	value := mappingValue(mappingValue(doc.Content[0], "data"), key)
	if value == nil || value.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("corefile: data key %q is not a plain YAML string; anchors and aliases are not supported", key)
	}
	value.Value = string(patched)
	value.Style = yaml.LiteralStyle // the encoder falls back to quotes if a line cannot be literal
	var out bytes.Buffer
	if bytes.HasPrefix(manifest, []byte("---\n")) {
		out.WriteString("---\n") // the encoder drops a leading document marker
	}
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if compactSequences(&doc) {
		enc.CompactSeqIndent()
	}
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("corefile: writing the ConfigMap: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("corefile: writing the ConfigMap: %w", err)
	}
	return out.Bytes(), nil
}

func manifestOrNil(manifest []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	return manifest, nil
}

// patchData patches the Corefile at data[key] of obj, a decoded ConfigMap, and
// reports whether the patch changed it.
func patchData(obj map[string]any, key string, o PatchOptions) (patched []byte, changed bool, err error) {
	corefile, err := corefileOf(obj, key)
	if err != nil {
		return nil, false, err
	}
	patched, err = Patch([]byte(corefile), o)
	if err != nil {
		return nil, false, err
	}
	return patched, !bytes.Equal(patched, []byte(corefile)), nil
}

// corefileOf returns data[key] of obj, which must be a v1 ConfigMap.
func corefileOf(obj map[string]any, key string) (string, error) {
	if obj["apiVersion"] != "v1" || obj["kind"] != "ConfigMap" {
		return "", fmt.Errorf("corefile: the input is %v %v, not a v1 ConfigMap; give one ConfigMap, as \"kubectl get configmap NAME -o yaml\" prints it", obj["apiVersion"], obj["kind"])
	}
	name := "ConfigMap"
	if meta, ok := obj["metadata"].(map[string]any); ok {
		name = fmt.Sprintf("ConfigMap %v/%v", meta["namespace"], meta["name"])
	}
	data, _ := obj["data"].(map[string]any)
	value, ok := data[key]
	if !ok {
		return "", fmt.Errorf("corefile: %s has no data key %q", name, key)
	}
	corefile, ok := value.(string)
	if !ok {
		return "", fmt.Errorf("corefile: %s: data key %q is not a string", name, key)
	}
	return corefile, nil
}

// mappingValue returns the value node under key in mapping node m, or nil.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// compactSequences reports whether the document writes block sequences with
// their dashes under the parent key, as kubectl does, judged by the first
// one; true when it has none.
func compactSequences(n *yaml.Node) bool {
	compact, _ := findSequenceStyle(n)
	return compact
}

func findSequenceStyle(n *yaml.Node) (compact, found bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			if value.Kind == yaml.SequenceNode && value.Style&yaml.FlowStyle == 0 && len(value.Content) > 0 {
				return value.Column == key.Column, true
			}
		}
	}
	for _, child := range n.Content {
		if compact, found := findSequenceStyle(child); found {
			return compact, true
		}
	}
	return true, false
}
