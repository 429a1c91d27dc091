package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/adler32"
	"slices"
	"strconv"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations the syncer writes, as documented in syncer/README.md.
const (
	// ManagerName marks objects written by the syncer, as the value of
	// ManagedByLabel (derived Services, ServiceImports) and of
	// discoveryv1.LabelManagedBy (mirrored EndpointSlices).
	ManagerName = "clusterset-syncer"
	// ManagedByLabel is the well-known label that carries ManagerName.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ServiceImportedLabel marks a derived Service as the local stand-in of an import.
	ServiceImportedLabel = "multicluster.kubernetes.io/service-imported"
	// DerivedServiceAnnotation on a ServiceImport names its derived Service in
	// that cluster. It is the record that keeps the name sticky.
	DerivedServiceAnnotation = "multicluster.kubernetes.io/derived-service"
)

// DerivedServiceName is the seed name of the derived Service of an export:
// "derived-" followed by the decimal Adler-32 of the export name, as Sveltos'
// adler32sum prints it ("web-service" gives "derived-435094621").
func DerivedServiceName(exportName string) string {
	return "derived-" + strconv.FormatUint(uint64(adler32.Checksum([]byte(exportName))), 10)
}

// fallbackHashLen is how many hex digits of the name's SHA-256 the fallback
// name carries: 40 bits, so that two names colliding in Adler-32 (common on
// short similar names) practically never collide again.
const fallbackHashLen = 10

// FallbackDerivedServiceName is the name a service's derived Service takes in
// a cluster where something else of its namespace holds the seed name: the
// seed name, "-" and the first 10 hex digits of the SHA-256 of the export name
// (at most 29 characters, a valid Service name).
func FallbackDerivedServiceName(exportName string) string {
	sum := sha256.Sum256([]byte(exportName))
	return DerivedServiceName(exportName) + "-" + hex.EncodeToString(sum[:])[:fallbackHashLen]
}

// DerivedServiceNames lists the names a service's derived Service may have,
// in order of preference: the seed name, then the fallback.
func DerivedServiceNames(exportName string) []string {
	return []string{DerivedServiceName(exportName), FallbackDerivedServiceName(exportName)}
}

// DerivedNameView is what one target cluster holds that bears on the derived
// name of one exported service.
type DerivedNameView struct {
	// Recorded is the DerivedServiceAnnotation of the service's own managed
	// ServiceImport in the cluster, "" when there is none.
	Recorded string
	// Own lists the names of the managed derived Services labelled as this
	// service's in the cluster.
	Own []string
	// TakenByOther reports whether name is held in the namespace by something
	// other than this service: another service's derived Service or recorded
	// name, or an object the syncer does not manage.
	TakenByOther func(name string) bool
}

// ChooseDerivedName picks the name of a service's derived Service in one
// cluster, so that every export is imported and a name once given is kept:
//  1. the recorded name, while nothing else holds it: the annotation is the
//     source of truth, also after a restart, so a service on its fallback does
//     not move back when the seed name frees;
//  2. else a derived Service of this service already there (seed first), so
//     that one created before its import was recorded keeps its VIP;
//  3. else the seed name if free, else the fallback.
//
// A recorded name that is not one of DerivedServiceNames is ignored (the
// annotation can be edited; the syncer never writes other names). It returns
// "" when both names are held by others.
func ChooseDerivedName(exportName string, v DerivedNameView) string {
	names := DerivedServiceNames(exportName)
	free := func(n string) bool { return !v.TakenByOther(n) }
	if slices.Contains(names, v.Recorded) && free(v.Recorded) {
		return v.Recorded
	}
	for _, n := range names {
		if slices.Contains(v.Own, n) && free(n) {
			return n
		}
	}
	for _, n := range names {
		if free(n) {
			return n
		}
	}
	return ""
}

// IsManaged reports whether obj carries one of the syncer's managed-by labels,
// that is whether the syncer may overwrite or delete it.
func IsManaged(obj metav1.Object) bool {
	l := obj.GetLabels()
	return l[ManagedByLabel] == ManagerName || l[discoveryv1.LabelManagedBy] == ManagerName
}
