// Package gather reads a clusterset for kubectl clusterset: the members as a kubectl user has
// them (the contexts of a kubeconfig, or a directory of kubeconfig files), one
// inspect.Snapshot per member with every API call bounded by a timeout, and DNS answers. It
// only reads; an unreachable member becomes a snapshot that says so, never an error that
// hides the others.
package gather

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Member is one member cluster as the user named it.
type Member struct {
	// Name is the kubeconfig context, or the file name in a kubeconfig directory.
	Name string
	// Config reaches the member; nil when its kubeconfig cannot be used, and Err says why.
	Config *rest.Config
	Err    string
}

// FromKubeconfig returns the given contexts (all, sorted, when none is given) of the
// kubeconfig at path, or of the kubeconfigs kubectl reads ($KUBECONFIG, ~/.kube/config) when
// path is empty. A context that is not there is an error; one that cannot be used is a Member
// with Err.
func FromKubeconfig(path string, contexts []string) ([]Member, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	which := path
	if which == "" {
		which = strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig %s: %w", which, err)
	}
	if len(raw.Contexts) == 0 {
		return nil, fmt.Errorf("the kubeconfig %s has no contexts", which)
	}
	have := slices.Sorted(maps.Keys(raw.Contexts))
	names := have
	if len(contexts) > 0 {
		names = nil
		for _, c := range contexts {
			if _, ok := raw.Contexts[c]; !ok {
				return nil, fmt.Errorf("context %q is not in the kubeconfig %s (it has %s)", c, which, strings.Join(have, ", "))
			}
			if !slices.Contains(names, c) {
				names = append(names, c)
			}
		}
	}
	members := make([]Member, 0, len(names))
	for _, name := range names {
		members = append(members, newMember(name, *raw, name, rules))
	}
	return members, nil
}

// FromDir returns one member per regular file of dir (hidden entries, such as a mounted
// Secret's ..data, skipped), each through its current context, in file name order.
func FromDir(dir string) ([]Member, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig directory: %w", err)
	}
	var members []Member
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
		raw, err := rules.Load()
		if err != nil {
			members = append(members, Member{Name: e.Name(), Err: "unusable kubeconfig: " + err.Error()})
			continue
		}
		members = append(members, newMember(e.Name(), *raw, raw.CurrentContext, rules))
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("no kubeconfig files in %s", dir)
	}
	return members, nil
}

func newMember(name string, raw clientcmdapi.Config, context string, rules clientcmd.ClientConfigLoader) Member {
	if context == "" {
		return Member{Name: name, Err: "unusable kubeconfig: no current context"}
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(raw, context, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return Member{Name: name, Err: "unusable kubeconfig: " + err.Error()}
	}
	return Member{Name: name, Config: cfg}
}
