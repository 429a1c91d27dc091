package deploy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/clusterset/clusterset/build/coredns/coretest"
)

// coreDNSAccount is the ServiceAccount CoreDNS runs as, which deploy/coredns grants access.
const coreDNSAccount = "coredns"

// checkResolves runs CoreDNS with the clusterset plugin as the coredns ServiceAccount of m,
// in this process, and checks that <name>.<namespace>.svc.clusterset.local answers the
// ServiceImport's IPs. kubeadm's own system:coredns role is not installed (see testdata), so
// this shows that deploy/coredns's role is all the plugin needs.
func checkResolves(ctx context.Context, t *testing.T, m *member, namespace, name string) {
	si, err := m.mcs.MulticlusterV1alpha1().ServiceImports(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(si.Spec.IPs))
	if len(want) == 0 {
		t.Fatalf("%s: ServiceImport %s/%s has no IPs", m.ID, namespace, name)
	}

	config, err := serviceAccountConfig(ctx, m, metav1.NamespaceSystem, coreDNSAccount)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := tokenKubeconfig(t, m, coreDNSAccount, config.BearerToken)
	server := coretest.Start(t, fmt.Sprintf("clusterset.local:0 {\n    bind 127.0.0.1\n    clusterset clusterset.local {\n        kubeconfig %s\n    }\n}\n", kubeconfig))

	qname := fmt.Sprintf("%s.%s.svc.clusterset.local.", name, namespace)
	var got []string
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, last = queryA(ctx, server.UDP, qname)
		return slices.Equal(got, want), nil
	})
	if err != nil {
		t.Fatalf("%s: %s A answered %q (%s), want the ServiceImport's IPs %q", m.ID, qname, got, last, want)
	}
	t.Logf("%s: %s A %s", m.ID, qname, strings.Join(got, " "))
}

// tokenKubeconfig writes a kubeconfig for m's apiserver with a bearer token, as a ServiceAccount
// token is handed out, and returns its path.
func tokenKubeconfig(t *testing.T, m *member, user, token string) string {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[m.ID] = &clientcmdapi.Cluster{Server: m.Config.Host, CertificateAuthorityData: m.Config.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[m.ID] = &clientcmdapi.Context{Cluster: m.ID, AuthInfo: user}
	kc.CurrentContext = m.ID
	path := filepath.Join(t.TempDir(), m.ID+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// queryA returns the sorted A records for qname, and the response code or error, for messages.
func queryA(ctx context.Context, addr, qname string) ([]string, string) {
	q := new(dns.Msg)
	q.SetQuestion(qname, dns.TypeA)
	r, _, err := new(dns.Client).ExchangeContext(ctx, q, addr)
	if err != nil {
		return nil, err.Error()
	}
	var ips []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	slices.Sort(ips)
	return ips, dns.RcodeToString[r.Rcode]
}
