// Package member finds the member clusters of a clusterset and admits them: kubeconfigs come
// from files in a directory or from labelled Secrets; each member's identity comes from its
// own ClusterProperties (KEP-2149), never from a file or Secret name.
package member

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// SecretLabel marks Secrets holding a member kubeconfig, for --member-secret-selector.
	SecretLabel = "multicluster.clusterset.io/member-kubeconfig"
	// SecretKey is the data key of the kubeconfig in such a Secret.
	SecretKey = "kubeconfig"

	// ClusterIDProperty and ClusterSetProperty name the KEP-2149 ClusterProperties.
	ClusterIDProperty  = "cluster.clusterset.k8s.io"
	ClusterSetProperty = "clusterset.k8s.io"
)

// ClusterProperties is the about.k8s.io resource holding the properties.
var ClusterProperties = schema.GroupVersionResource{Group: "about.k8s.io", Version: "v1alpha1", Resource: "clusterproperties"}

// Candidate is a kubeconfig that may lead to a member.
type Candidate struct {
	// Origin names where the kubeconfig came from, for logs.
	Origin string
	Config *rest.Config
}

// FromDir reads every regular file of dir as a kubeconfig, in name order. Hidden entries are
// skipped, which also skips the "..data" links of a mounted Secret or ConfigMap.
func FromDir(dir string) ([]Candidate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Candidate
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
			continue // follows symlinks: mounted files are links
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
		if err != nil {
			return nil, fmt.Errorf("member kubeconfig %s: %w", path, err)
		}
		out = append(out, Candidate{Origin: path, Config: cfg})
	}
	return out, nil
}

// FromSecrets reads the kubeconfig under SecretKey of every Secret in namespace matching
// selector, in name order.
func FromSecrets(ctx context.Context, client kubernetes.Interface, namespace, selector string) ([]Candidate, error) {
	list, err := client.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	var out []Candidate
	for _, s := range list.Items {
		origin := "secret " + namespace + "/" + s.Name
		data, ok := s.Data[SecretKey]
		if !ok {
			return nil, fmt.Errorf("member %s has no %q key", origin, SecretKey)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", origin, err)
		}
		out = append(out, Candidate{Origin: origin, Config: cfg})
	}
	return out, nil
}

// Identity is what a cluster says about itself.
type Identity struct {
	ClusterID  string
	ClusterSet string
}

// Identify reads a cluster's ClusterProperties. A missing property is returned empty.
func Identify(ctx context.Context, client dynamic.Interface) (Identity, error) {
	var id Identity
	for name, into := range map[string]*string{ClusterIDProperty: &id.ClusterID, ClusterSetProperty: &id.ClusterSet} {
		obj, err := client.Resource(ClusterProperties).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return Identity{}, fmt.Errorf("reading ClusterProperty %s: %w", name, err)
		}
		*into, _, _ = unstructured.NestedString(obj.Object, "spec", "value")
	}
	return id, nil
}

// Refusal reasons, the "reason" label of the members-refused metric.
const (
	RefusedNoClusterID      = "NoClusterID"
	RefusedInvalidClusterID = "InvalidClusterID"
	RefusedOtherClusterSet  = "OtherClusterSet"
	RefusedDuplicateID      = "DuplicateClusterID"
	RefusedUnreadable       = "Unreadable"
)

// Check decides whether a cluster with identity id may join clusterSet. It returns "" when
// it may, or the refusal reason and a message for the log.
func Check(id Identity, clusterSet string) (reason, message string) {
	switch {
	case id.ClusterID == "":
		return RefusedNoClusterID, "the member has no ClusterProperty " + ClusterIDProperty
	case len(validation.IsDNS1123Label(id.ClusterID)) > 0:
		return RefusedInvalidClusterID, fmt.Sprintf("cluster ID %q is not a DNS label: %s",
			id.ClusterID, strings.Join(validation.IsDNS1123Label(id.ClusterID), "; "))
	case id.ClusterSet != clusterSet:
		return RefusedOtherClusterSet, fmt.Sprintf("cluster %s belongs to clusterset %q, not %q", id.ClusterID, id.ClusterSet, clusterSet)
	}
	return "", ""
}
