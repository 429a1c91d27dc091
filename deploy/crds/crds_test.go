package crds

import (
	"bytes"
	"testing"

	mcscrd "sigs.k8s.io/mcs-api/config/crd"
)

// The mcs-api CRDs are copied so that kustomize can reach them; they must not
// drift from the pinned module.
func TestMCSCopiesMatchPinnedModule(t *testing.T) {
	for name, pair := range map[string][2][]byte{
		"ServiceExport": {ServiceExport, mcscrd.ServiceExportCRD},
		"ServiceImport": {ServiceImport, mcscrd.ServiceImportCRD},
	} {
		if !bytes.Equal(pair[0], pair[1]) {
			t.Errorf("deploy/crds copy of %s differs from sigs.k8s.io/mcs-api/config/crd; copy it again", name)
		}
	}
}
