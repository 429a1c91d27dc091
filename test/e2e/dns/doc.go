// Package dns holds the end-to-end test of the DNS answers: a localenv clusterset of three real
// apiservers with kube-controller-managers, clusterset-syncer in pull mode and the built CoreDNS
// (bin/coredns) in every cluster, its Corefile a kubeadm-style root block with the stock kubernetes
// plugin into which the clusterset directive is patched. It asks what the mcs-api conformance
// suite's DNS specs ask, with a real DNS client over UDP and TCP against each cluster's CoreDNS.
package dns
