package localenv

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes one kubeconfig holding every cluster as a context named by its ID,
// the first one current: the clusterset as a kubectl user has it (kubectl --context cluster-2,
// kubectl clusterset).
func (e *Env) WriteKubeconfig(path string) error {
	merged := clientcmdapi.NewConfig()
	for _, c := range e.Clusters {
		kc, err := clientcmd.LoadFromFile(c.Kubeconfig)
		if err != nil {
			return fmt.Errorf("%s: %w", c.ID, err)
		}
		ctx, ok := kc.Contexts[kc.CurrentContext]
		if !ok {
			return fmt.Errorf("%s: kubeconfig %s has no current context", c.ID, c.Kubeconfig)
		}
		user := "admin-" + c.ID
		merged.Clusters[c.ID] = kc.Clusters[ctx.Cluster]
		merged.AuthInfos[user] = kc.AuthInfos[ctx.AuthInfo]
		merged.Contexts[c.ID] = &clientcmdapi.Context{Cluster: c.ID, AuthInfo: user}
	}
	if len(e.Clusters) > 0 {
		merged.CurrentContext = e.Clusters[0].ID
	}
	return clientcmd.WriteToFile(*merged, path)
}
