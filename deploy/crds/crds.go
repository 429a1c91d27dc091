// Package crds embeds the CustomResourceDefinitions that clusterset installs in
// every member cluster, so that tests and tools apply exactly what users apply.
package crds

import _ "embed"

var (
	//go:embed multicluster.x-k8s.io_serviceexports.yaml
	ServiceExport []byte
	//go:embed multicluster.x-k8s.io_serviceimports.yaml
	ServiceImport []byte
	//go:embed about.k8s.io_clusterproperties.yaml
	ClusterProperty []byte
)

// All returns every CRD in the order they should be applied.
func All() [][]byte { return [][]byte{ServiceExport, ServiceImport, ClusterProperty} }
