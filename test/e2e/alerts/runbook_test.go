package alerts

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/clusterset/clusterset/test/bindir"
)

// TestRunbook checks what an on-call engineer reads: every alert has a severity, a summary, a
// description, and a runbook_url pointing at its own section of deploy/monitoring/README.md.
func TestRunbook(t *testing.T) {
	root, err := bindir.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert       string            `json:"alert"`
					Labels      map[string]string `json:"labels"`
					Annotations map[string]string `json:"annotations"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "deploy/monitoring/README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := regexp.MustCompile(`(?m)^### (\S+)$`).FindAllStringSubmatch(string(readme), -1)
	n := 0
	for _, g := range obj.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s", r.Alert, a)
				}
			}
			if want := "deploy/monitoring/README.md#" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("%s: runbook_url %q, want one ending in %s", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !slices.ContainsFunc(sections, func(s []string) bool { return s[1] == r.Alert }) {
				t.Errorf("%s: no section \"### %s\" in the README", r.Alert, r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert in the rule file")
	}
}
