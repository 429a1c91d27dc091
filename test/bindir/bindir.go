// Package bindir finds the directory of the binaries that tests, benchmarks and the demo run:
// $CLUSTERSET_BIN_DIR when set, else bin/ at the root of the clusterset module (where
// `make tools` and `make build` put them), so that a plain `go test` works as well as `make`.
package bindir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EnvVar overrides the directory.
const EnvVar = "CLUSTERSET_BIN_DIR"

// Dir returns the absolute binary directory.
func Dir() (string, error) {
	if dir := os.Getenv(EnvVar); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("find bin/: %w; set %s", err, EnvVar)
	}
	return filepath.Join(root, "bin"), nil
}

// Find returns the path of each named binary in Dir, or an error naming the first one that is
// missing and the make target that builds it.
func Find(names ...string) (map[string]string, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, name := range names {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s not found in %s: run `%s` first", name, dir, makeTarget(name))
		}
		out[name] = path
	}
	return out, nil
}

// Require returns the paths of the named binaries for an integration test. A missing one skips
// the test under -short, saying why, and fails it otherwise: `make test` must never pass
// without having run its integration tests.
func Require(t testing.TB, names ...string) map[string]string {
	t.Helper()
	paths, err := Find(names...)
	if err == nil {
		return paths
	}
	if testing.Short() {
		t.Skipf("SKIPPED, NOT PASSED (-short): %v", err)
	}
	t.Fatalf("%v (or run with -short to skip integration tests)", err)
	return nil
}

// ModuleRoot walks up from the working directory to the clusterset module's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isRootModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the clusterset module")
		}
		dir = parent
	}
}

// isRootModule tells the project's go.mod from the pinned tools modules below test/tools.
func isRootModule(gomod []byte) bool {
	first, _, _ := strings.Cut(string(gomod), "\n")
	return strings.TrimSpace(first) == "module github.com/clusterset/clusterset"
}

// makeTarget names the make target that builds a binary.
func makeTarget(name string) string {
	switch name {
	case "etcd", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kubectl":
		return "make tools"
	case "helm", "promrules":
		return "make test-tools"
	case "staticcheck":
		return "make lint"
	}
	return "make build"
}
