// Package cli holds the end-to-end test of kubectl clusterset (bin/kubectl-clusterset, run as a
// user runs it): a localenv clusterset of three real apiservers with kube-controller-managers,
// clusterset-syncer in pull mode and the built CoreDNS in every cluster, and the states the CLI
// must show: a healthy export, a conflict, a missing namespace, an ExternalName export refused,
// a hand-edited ServiceImport that check must catch, a member whose syncer stopped (stale
// heartbeat) and one whose apiserver stopped (unreachable, then its endpoints withdrawn).
package cli
