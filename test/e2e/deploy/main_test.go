package deploy

import (
	"os"
	"path/filepath"
	"testing"
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
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

func readmePath(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "README.md") }

// binDir holds the control-plane binaries and kubectl, as for localenv.
func binDir(t testing.TB) string {
	if dir := os.Getenv("CLUSTERSET_BIN_DIR"); dir != "" {
		return dir
	}
	return filepath.Join(repoRoot(t), "bin")
}
