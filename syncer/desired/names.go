package desired

import (
	"hash/adler32"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the syncer writes, as listed in DESIGN.md.
const (
	// ManagerName marks objects written by the syncer, as the value of
	// ManagedByLabel (derived Services, ServiceImports) and of
	// discoveryv1.LabelManagedBy (mirrored EndpointSlices).
	ManagerName = "clusterset-syncer"
	// ManagedByLabel is the well-known label that carries ManagerName.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ServiceImportedLabel marks a derived Service as the local stand-in of an import.
	ServiceImportedLabel = "multicluster.kubernetes.io/service-imported"
	// DerivedServiceAnnotation on a ServiceImport names its derived Service.
	DerivedServiceAnnotation = "multicluster.kubernetes.io/derived-service"
)

// DerivedServiceName is the name of the derived Service of an export:
// "derived-" followed by the decimal Adler-32 of the export name, as Sveltos'
// adler32sum prints it ("web-service" gives "derived-435094621").
func DerivedServiceName(exportName string) string {
	return "derived-" + strconv.FormatUint(uint64(adler32.Checksum([]byte(exportName))), 10)
}

// IsManaged reports whether obj carries one of the syncer's managed-by labels,
// that is whether the syncer may overwrite or delete it.
func IsManaged(obj metav1.Object) bool {
	l := obj.GetLabels()
	return l[ManagedByLabel] == ManagerName || l[discoveryv1.LabelManagedBy] == ManagerName
}
