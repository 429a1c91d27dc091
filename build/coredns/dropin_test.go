package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcs "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"

	"github.com/clusterset/clusterset/build/coredns/coretest"
	"github.com/clusterset/clusterset/test/localenv"
)

const (
	ns      = "dropin"
	webName = "web." + ns + ".svc.clusterset.local."
	webIP   = "10.11.0.10"
)

// TestStockPluginsNextToClusterset starts the build's plugin chain on Corefiles that each use one
// stock plugin next to clusterset (and kubernetes, where the plugin needs it), against a real
// kube-apiserver, and answers a query through that plugin as well as a clusterset query.
func TestStockPluginsNextToClusterset(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the control-plane binaries in bin/")
	}
	cl := localenv.StartT(t, localenv.Options{Clusters: 1}).Clusters[0]
	seed(t.Context(), t, cl)

	tests := []struct {
		name       string
		directives string // in the "." block, next to clusterset
		kubernetes bool   // the block also has kubernetes cluster.local, pods verified
		q          dns.Question
		want       string // the reply as summary renders it; CLIENTPORT matches any port
	}{
		{"rewrite", "rewrite name exact web.alias.example. " + webName + "\n", false,
			question("web.alias.example.", dns.TypeA), "NOERROR aa web.alias.example. A " + webIP},
		{"template", "template IN A tmpl.example {\n answer \"{{ .Name }} 60 IN A 192.0.2.1\"\n}\n", false,
			question("x.tmpl.example.", dns.TypeA), "NOERROR aa x.tmpl.example. A 192.0.2.1"},
		// A Pod's resolver tries its search path first: autopath answers the first try with a
		// CNAME to the name that exists, which clusterset answers.
		{"autopath @kubernetes", "autopath @kubernetes\n", true,
			question(webName+ns+".svc.cluster.local.", dns.TypeA),
			"NOERROR aa " + webName + ns + ".svc.cluster.local. CNAME " + webName + " " + webName + " A " + webIP},
		{"k8s_external", "k8s_external example.org\n", true,
			question("ext."+ns+".example.org.", dns.TypeA), "NOERROR aa ext." + ns + ".example.org. A 192.0.2.10"},
		{"acl", "acl {\n block type AAAA net 127.0.0.0/8\n}\n", false,
			question(webName, dns.TypeAAAA), "REFUSED"},
		{"any", "any\n", false,
			question(webName, dns.TypeANY), "NOERROR " + webName + " HINFO \"ANY obsoleted\" \"See RFC 8482\""},
		{"header", "header {\n response set ra\n}\n", false,
			question(webName, dns.TypeA), "NOERROR aa ra " + webName + " A " + webIP},
		{"chaos", "chaos clusterset-coredns ops@example.org\n", false,
			dns.Question{Name: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}, "NOERROR version.bind. TXT \"clusterset-coredns\""},
		{"whoami", "whoami\n", false,
			question("who.example.", dns.TypeA), "NOERROR aa | who.example. A 127.0.0.1 _udp.who.example. SRV 0 0 CLIENTPORT ."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kube := ""
			if tc.kubernetes {
				kube = "kubernetes cluster.local {\n kubeconfig " + cl.Kubeconfig + "\n pods verified\n}\n"
			}
			srv := coretest.Start(t, ".:0 {\nbind 127.0.0.1\n"+tc.directives+
				"clusterset clusterset.local {\n kubeconfig "+cl.Kubeconfig+"\n}\n"+kube+"}\n")
			if got := exchange(t, srv.UDP, question(webName, dns.TypeA)); got.Rcode != dns.RcodeSuccess || len(got.Answer) != 1 ||
				!strings.HasSuffix(got.Answer[0].String(), webIP) {
				t.Errorf("clusterset next to %s: %s", tc.name, summary(got))
			}
			want := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(tc.want), "CLIENTPORT", "[0-9]+") + "$")
			if got := summary(exchange(t, srv.UDP, tc.q)); !want.MatchString(got) {
				t.Errorf("%s %s through %s:\n got  %s\n want %s", tc.q.Name, dns.TypeToString[tc.q.Qtype], tc.name, got, tc.want)
			}
		})
	}
}

// seed creates what the queries find: a ServiceImport for clusterset, a Service with an
// external IP for k8s_external, and a ready Pod at 127.0.0.1, the address the test queries
// from, for autopath to find the client's namespace.
func seed(ctx context.Context, t *testing.T, cl *localenv.Cluster) {
	t.Helper()
	kube := kubernetes.NewForConfigOrDie(cl.Config)
	mc := mcsclient.NewForConfigOrDie(cl.Config)
	steps := []func() error{
		func() error {
			_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := mc.MulticlusterV1alpha1().ServiceImports(ns).Create(ctx, &mcs.ServiceImport{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec:       mcs.ServiceImportSpec{Type: mcs.ClusterSetIP, IPs: []string{webIP}, Ports: []mcs.ServicePort{}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.CoreV1().Services(ns).Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "ext"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, ExternalIPs: []string{"192.0.2.10"},
					Selector: map[string]string{"app": "ext"}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "client"},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "client"}}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error { return cl.MakePodReady(ctx, ns, "client", "127.0.0.1") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("seed step %d: %v", i+1, err)
		}
	}
}

func question(name string, qtype uint16) dns.Question {
	return dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
}

func exchange(t *testing.T, addr string, q dns.Question) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.Question = []dns.Question{q}
	m.RecursionDesired = true
	m.Id = dns.Id()
	resp, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s: %v", q.Name, dns.TypeToString[q.Qtype], err)
	}
	return resp
}

// summary renders a reply as "RCODE flags answers | additionals", each record as owner, type
// and data.
func summary(m *dns.Msg) string {
	parts := []string{dns.RcodeToString[m.Rcode]}
	if m.Authoritative {
		parts = append(parts, "aa")
	}
	if m.RecursionAvailable {
		parts = append(parts, "ra")
	}
	render := func(rrs []dns.RR) {
		for _, rr := range rrs {
			data := strings.TrimSpace(strings.TrimPrefix(rr.String(), rr.Header().String()))
			parts = append(parts, fmt.Sprintf("%s %s %s", rr.Header().Name, dns.TypeToString[rr.Header().Rrtype], data))
		}
	}
	render(m.Answer)
	if extra := slices.DeleteFunc(slices.Clone(m.Extra), func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeOPT }); len(extra) > 0 {
		parts = append(parts, "|")
		render(extra)
	}
	return strings.Join(parts, " ")
}
