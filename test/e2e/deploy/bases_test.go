package deploy

import (
	"io/fs"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// kustomizationFiles are the names kustomize looks for in a directory.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// exampleSuffix marks a manifest that no base includes, for users to copy and edit, such as
// deploy/syncer's member Secret.
const exampleSuffix = ".example.yaml"

// manifests are what users may apply from deploy/, so each is validated.
type manifests struct {
	// bases are the directories holding a kustomization.
	bases []string
	// examples are the example files, applied on their own.
	examples []string
}

// findManifests walks fsys for kustomize bases and example files, each list sorted.
func findManifests(fsys fs.FS) (manifests, error) {
	var m manifests
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
		case slices.Contains(kustomizationFiles, d.Name()):
			m.bases = append(m.bases, path.Dir(p))
		case strings.HasSuffix(d.Name(), exampleSuffix):
			m.examples = append(m.examples, p)
		}
		return nil
	})
	slices.Sort(m.bases)
	slices.Sort(m.examples)
	return m, err
}

func TestFindManifests(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("resources: []\n")}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want manifests
	}{
		{"none", fstest.MapFS{"README.md": file, "crds/crds.go": file}, manifests{}},
		{"top level and nested, every file name kustomize reads", fstest.MapFS{
			"kustomization.yaml":                    file,
			"crds/kustomization.yaml":               file,
			"crds/a.yaml":                           file,
			"syncer/kustomization.yml":              file,
			"syncer/member-reader/Kustomization":    file,
			"coredns/notes/kustomization.yaml.orig": file,
		}, manifests{bases: []string{".", "crds", "syncer", "syncer/member-reader"}}},
		{"examples beside bases", fstest.MapFS{
			"syncer/kustomization.yaml":            file,
			"syncer/secret.example.yaml":           file,
			"syncer/secret.example.yaml.md":        file,
			"a.example.yaml":                       file,
			"syncer/deployment.yaml":               file,
			"syncer/hub/other-secret.example.yaml": file,
		}, manifests{
			bases:    []string{"syncer"},
			examples: []string{"a.example.yaml", "syncer/hub/other-secret.example.yaml", "syncer/secret.example.yaml"},
		}},
		{"a directory is not a kustomization", fstest.MapFS{"x/kustomization.yaml/y": file}, manifests{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findManifests(tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
