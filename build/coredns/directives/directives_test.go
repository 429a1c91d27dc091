package directives

import (
	"os/exec"
	"slices"
	"testing"
)

// The checked-in list is what the generator writes from the pinned CoreDNS module.
func TestGeneratedListIsCurrent(t *testing.T) {
	out, err := exec.Command("go", "run", "./gen", "-check").CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./gen -check: %v\n%s", err, out)
	}
}

func TestSplice(t *testing.T) {
	tests := []struct {
		name       string
		directives []string
		want       []string
	}{
		{"before kubernetes", []string{"cache", "k8s_external", "kubernetes", "file"}, []string{"cache", "k8s_external", "clusterset", "kubernetes", "file"}},
		{"kubernetes first", []string{"kubernetes", "file"}, []string{"clusterset", "kubernetes", "file"}},
		{"no kubernetes appends", []string{"cache", "file"}, []string{"cache", "file", "clusterset"}},
		{"already present stays", []string{"clusterset", "cache", "kubernetes"}, []string{"clusterset", "cache", "kubernetes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.directives)
			got := Splice(in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if !slices.Equal(in, tc.directives) {
				t.Errorf("input modified: %v", in)
			}
		})
	}
}
