package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterset/clusterset/test/bindir"
)

func TestMain(m *testing.M) {
	// Test traffic goes to 127.0.0.1 only, never through the environment's proxies: clear them
	// before any client exists. kubectl and bash, started from here, inherit the cleared
	// environment.
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		os.Unsetenv(name)
	}
	os.Exit(m.Run())
}

// repoRoot is the root of the clusterset module, found upwards from the package directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := bindir.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readmePath(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "README.md") }

// binDir holds the control-plane binaries and kubectl, as for localenv.
func binDir(t testing.TB) string {
	dir, err := bindir.Dir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
