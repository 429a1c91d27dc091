package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// bareAnswers is the bare server's whole state: the A records of every name, by lowercase name.
type bareAnswers map[string][]dns.RR

// serveBare is the practical limit the plugins are measured against: a miekg/dns server that
// answers A queries from a map and NXDOMAIN otherwise, with no plugin chain, cache or metrics.
// It starts empty and (re)loads the map from the apiserver on SIGHUP.
func serveBare(kubeconfig, listen string) error {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	mc, err := mcsclient.NewForConfig(rc)
	if err != nil {
		return err
	}

	var answers atomic.Pointer[bareAnswers]
	answers.Store(&bareAnswers{})
	soa := []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 5},
		Ns: "ns.dns." + zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: 5}}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		rrs, ok := (*answers.Load())[strings.ToLower(r.Question[0].Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
			m.Ns = soa
		case r.Question[0].Qtype == dns.TypeA:
			m.Answer = rrs
		default:
			m.Ns = soa
		}
		// Fit the client's buffer, compressing or truncating as CoreDNS's server does.
		size := dns.MinMsgSize
		if o := r.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
		w.WriteMsg(m)
	})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			a, err := loadBareAnswers(context.Background(), kube, mc)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bare: load:", err)
				continue
			}
			answers.Store(&a)
		}
	}()
	return (&dns.Server{Addr: listen, Net: "udp", Handler: handler}).ListenAndServe()
}

// loadBareAnswers lists the imports and MCS slices once and builds the A records the query mix
// asks for: service names (ClusterSetIP addresses or ready endpoints) and per-endpoint names.
func loadBareAnswers(ctx context.Context, kube kubernetes.Interface, mc mcsclient.Interface) (bareAnswers, error) {
	imports, err := mc.MulticlusterV1alpha1().ServiceImports("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	slices, err := kube.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{LabelSelector: mcsv1alpha1.LabelServiceName})
	if err != nil {
		return nil, err
	}
	a := bareAnswers{}
	add := func(name, ip string) {
		if addr, err := netip.ParseAddr(ip); err == nil && addr.Is4() {
			a[name] = append(a[name], &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: addr.AsSlice()})
		}
	}
	headless := map[string]bool{}
	for _, si := range imports.Items {
		name := si.Name + "." + si.Namespace + ".svc." + zone
		headless[name] = si.Spec.Type == mcsv1alpha1.Headless
		for _, ip := range si.Spec.IPs {
			add(name, ip)
		}
	}
	for _, sl := range slices.Items {
		svc := sl.Labels[mcsv1alpha1.LabelServiceName] + "." + sl.Namespace + ".svc." + zone
		if !headless[svc] || sl.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, ip := range ep.Addresses {
				host := strings.ReplaceAll(ip, ".", "-")
				if ep.Hostname != nil {
					host = *ep.Hostname
				}
				add(svc, ip)
				add(host+"."+sl.Labels[mcsv1alpha1.LabelSourceCluster]+"."+svc, ip)
			}
		}
	}
	return a, nil
}
