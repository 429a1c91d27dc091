// Package member finds the member clusters of a clusterset and decides which may join:
// kubeconfigs come from files in a directory or from labelled Secrets and are checked before
// any client is built (no credential plugins, no file references); each member's identity
// comes from its own ClusterProperties (KEP-2149), never from a file or Secret name.
package member

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	// SecretLabel marks Secrets holding a member kubeconfig, for --member-secret-selector.
	SecretLabel = "multicluster.clusterset.io/member-kubeconfig"
	// SecretKey is the data key of the kubeconfig in such a Secret.
	SecretKey = "kubeconfig"
	// ExpectedClusterIDAnnotation, on a member Secret, pins the cluster ID the member must
	// report; a member reporting another ID is refused.
	ExpectedClusterIDAnnotation = "multicluster.clusterset.io/expected-cluster-id"

	// ClusterIDProperty and ClusterSetProperty name the KEP-2149 ClusterProperties.
	ClusterIDProperty  = "cluster.clusterset.k8s.io"
	ClusterSetProperty = "clusterset.k8s.io"
)

// ClusterProperties is the about.k8s.io resource holding the properties.
var ClusterProperties = schema.GroupVersionResource{Group: "about.k8s.io", Version: "v1alpha1", Resource: "clusterproperties"}

// Refusal reasons, the "reason" label of the members-refused metric.
const (
	// Before connecting: the kubeconfig itself.
	RefusedUnreadable       = "Unreadable"       // the file or the Secret key cannot be read
	RefusedMalformed        = "Malformed"        // not a usable kubeconfig
	RefusedCredentialPlugin = "CredentialPlugin" // exec or auth-provider plugin
	RefusedFileReference    = "FileReference"    // names a file to read credentials from
	// After connecting: what the member says about itself.
	RefusedNoClusterID      = "NoClusterID"
	RefusedInvalidClusterID = "InvalidClusterID"
	RefusedOtherClusterSet  = "OtherClusterSet"
	RefusedIDMismatch       = "ClusterIDMismatch" // differs from the Secret's expected ID
	RefusedLocalClusterID   = "LocalClusterID"    // claims the local ID but is another apiserver
	RefusedDuplicateID      = "DuplicateClusterID"
)

// Rules are what a member kubeconfig may use.
type Rules struct {
	// AllowExecCredentials allows exec and auth-provider plugins and file references
	// (client certificate and key, certificate authority, token file): they run code or
	// read files inside the syncer, so by default only inline credentials are accepted.
	AllowExecCredentials bool
}

// Refusal is why a candidate may not join.
type Refusal struct {
	Reason  string
	Message string
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Message }

// Candidate is one configured kubeconfig that may lead to a member.
type Candidate struct {
	// Key identifies the configuration entry ("file <name>" or "secret <ns>/<name>"); it
	// stays the same across content changes.
	Key string
	// Origin names where the kubeconfig came from, for logs (the file path, or the Secret).
	Origin string
	// Hash digests everything the candidate was built from: a change means a reconnect.
	Hash string
	// ExpectedClusterID, when set, is the only ID the member may report.
	ExpectedClusterID string
	// Config is the client configuration; nil when Refused.
	Config *rest.Config
	// Refused is set when the kubeconfig cannot be used. The member's identity is then
	// unknown.
	Refused *Refusal
}

// FromDir reads every regular file of dir as a kubeconfig, in name order. Hidden entries are
// skipped, which also skips the "..data" links of a mounted Secret or ConfigMap. A file that
// cannot be used is returned refused; only a directory that cannot be listed is an error.
func FromDir(dir string, rules Rules) ([]Candidate, error) {
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
		c := Candidate{Key: "file " + e.Name(), Origin: path}
		data, err := os.ReadFile(path)
		if err != nil {
			c.Hash = "unreadable"
			c.Refused = &Refusal{RefusedUnreadable, err.Error()}
		} else {
			c.Hash = digest(data)
			c.Config, c.Refused = Parse(data, rules)
		}
		out = append(out, c)
	}
	return out, nil
}

// FromSecret reads the kubeconfig under SecretKey of a member Secret and its expected ID.
func FromSecret(s *corev1.Secret, rules Rules) Candidate {
	c := Candidate{
		Key:               "secret " + s.Namespace + "/" + s.Name,
		Origin:            "secret " + s.Namespace + "/" + s.Name,
		ExpectedClusterID: s.Annotations[ExpectedClusterIDAnnotation],
	}
	data, ok := s.Data[SecretKey]
	c.Hash = digest(data, []byte(c.ExpectedClusterID))
	if !ok {
		c.Refused = &Refusal{RefusedUnreadable, fmt.Sprintf("no %q key", SecretKey)}
		return c
	}
	c.Config, c.Refused = Parse(data, rules)
	return c
}

func digest(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Parse checks a member kubeconfig against rules and builds its client configuration. Only
// what its current context selects is used, and so checked; nothing is read from disk and no
// plugin runs: Parse refuses them before a client exists.
func Parse(data []byte, rules Rules) (*rest.Config, *Refusal) {
	kc, err := clientcmd.Load(data)
	if err != nil {
		return nil, &Refusal{RefusedMalformed, err.Error()}
	}
	if r := checkCredentials(kc, rules); r != nil {
		return nil, r
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, &Refusal{RefusedMalformed, err.Error()}
	}
	return cfg, nil
}

func checkCredentials(kc *clientcmdapi.Config, rules Rules) *Refusal {
	ctx, ok := kc.Contexts[kc.CurrentContext]
	switch {
	case kc.CurrentContext == "":
		return &Refusal{RefusedMalformed, "no current-context"}
	case !ok:
		return &Refusal{RefusedMalformed, fmt.Sprintf("current-context %q is not defined", kc.CurrentContext)}
	}
	cluster, ok := kc.Clusters[ctx.Cluster]
	if !ok {
		return &Refusal{RefusedMalformed, fmt.Sprintf("cluster %q of context %q is not defined", ctx.Cluster, kc.CurrentContext)}
	}
	if cluster.Server == "" {
		return &Refusal{RefusedMalformed, fmt.Sprintf("cluster %q has no server", ctx.Cluster)}
	}
	user := kc.AuthInfos[ctx.AuthInfo] // an undefined user means no credentials
	if rules.AllowExecCredentials {
		return nil
	}
	if user != nil {
		switch {
		case user.Exec != nil:
			return &Refusal{RefusedCredentialPlugin, fmt.Sprintf("user %q runs the exec plugin %q (see --allow-exec-credentials)", ctx.AuthInfo, user.Exec.Command)}
		case user.AuthProvider != nil:
			return &Refusal{RefusedCredentialPlugin, fmt.Sprintf("user %q uses the auth-provider %q (see --allow-exec-credentials)", ctx.AuthInfo, user.AuthProvider.Name)}
		}
	}
	var files []string
	if cluster.CertificateAuthority != "" {
		files = append(files, "certificate-authority "+cluster.CertificateAuthority)
	}
	if user != nil {
		for field, path := range map[string]string{"client-certificate": user.ClientCertificate, "client-key": user.ClientKey, "tokenFile": user.TokenFile} {
			if path != "" {
				files = append(files, field+" "+path)
			}
		}
	}
	if len(files) > 0 {
		sort.Strings(files)
		return &Refusal{RefusedFileReference, "reads files (" + strings.Join(files, ", ") + "); use the inline *-data fields and token (see --allow-exec-credentials)"}
	}
	return nil
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

// Check decides whether a cluster with identity id may join clusterSet, given the ID its
// configuration expects (empty: any). It returns nil when it may.
func Check(id Identity, clusterSet, expectedID string) *Refusal {
	switch {
	case id.ClusterID == "":
		return &Refusal{RefusedNoClusterID, "the member has no ClusterProperty " + ClusterIDProperty}
	case len(validation.IsDNS1123Label(id.ClusterID)) > 0:
		return &Refusal{RefusedInvalidClusterID, fmt.Sprintf("cluster ID %q is not a DNS label: %s",
			id.ClusterID, strings.Join(validation.IsDNS1123Label(id.ClusterID), "; "))}
	case expectedID != "" && id.ClusterID != expectedID:
		return &Refusal{RefusedIDMismatch, fmt.Sprintf("the member reports cluster ID %q, its Secret's %s expects %q", id.ClusterID, ExpectedClusterIDAnnotation, expectedID)}
	case id.ClusterSet != clusterSet:
		return &Refusal{RefusedOtherClusterSet, fmt.Sprintf("cluster %s belongs to clusterset %q, not %q", id.ClusterID, id.ClusterSet, clusterSet)}
	}
	return nil
}

// APIServerIdentity is the UID of a cluster's kube-system namespace: the apiserver mints it
// and nobody can choose it, so two kubeconfigs reaching the same cluster get the same value,
// and a cluster merely claiming another's cluster ID does not. It needs get on the namespace
// kube-system, or else list on namespaces.
func APIServerIdentity(ctx context.Context, client kubernetes.Interface) (string, error) {
	ns, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceSystem, metav1.GetOptions{})
	if err == nil {
		return string(ns.UID), nil
	}
	if !apierrors.IsForbidden(err) {
		return "", err
	}
	list, listErr := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + metav1.NamespaceSystem})
	switch {
	case listErr != nil:
		return "", err
	case len(list.Items) != 1:
		return "", apierrors.NewNotFound(corev1.Resource("namespaces"), metav1.NamespaceSystem)
	}
	return string(list.Items[0].UID), nil
}
