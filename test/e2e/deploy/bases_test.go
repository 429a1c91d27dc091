package deploy

import (
	"io/fs"
	"path"
	"reflect"
	"slices"
	"testing"
	"testing/fstest"
)

// kustomizationFiles are the names kustomize looks for in a directory.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// kustomizeBases lists, sorted, every directory of fsys that holds a kustomization:
// each is a base that users may apply, so each is validated.
func kustomizeBases(fsys fs.FS) ([]string, error) {
	var bases []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(kustomizationFiles, d.Name()) {
			bases = append(bases, path.Dir(p))
		}
		return nil
	})
	slices.Sort(bases)
	return bases, err
}

func TestKustomizeBases(t *testing.T) {
	file := &fstest.MapFile{Data: []byte("resources: []\n")}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want []string
	}{
		{"none", fstest.MapFS{"README.md": file}, nil},
		{"top level and nested, every file name kustomize reads", fstest.MapFS{
			"kustomization.yaml":                    file,
			"crds/kustomization.yaml":               file,
			"crds/a.yaml":                           file,
			"syncer/kustomization.yml":              file,
			"syncer/member-reader/Kustomization":    file,
			"coredns/notes/kustomization.yaml.orig": file,
		}, []string{".", "crds", "syncer", "syncer/member-reader"}},
		{"a directory is not a kustomization", fstest.MapFS{"x/kustomization.yaml/y": file}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := kustomizeBases(tt.fsys)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
