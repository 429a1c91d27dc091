// Package deploy tests the manifests under deploy/ against a real kube-apiserver: every
// kustomize base is applied with `kubectl apply --dry-run=server -k`, and the install guide of
// deploy/README.md is run as written, with bin/kubectl, on a localenv clusterset of two
// members. Stand-ins play the parts a localenv cluster lacks (kubelet, token and Deployment
// controllers), so the guide's waits complete; the tests then resolve the exported service
// through the clusterset plugin with CoreDNS's own ServiceAccount.
package deploy
