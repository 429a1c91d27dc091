// Package attack holds the attack suite of the shipped manifests: against real apiservers with
// deploy/syncer applied, it acts as the syncer's ServiceAccount, as a stolen token would, and
// tries each way a compromised syncer could steer traffic or reach beyond what it manages. The
// admission policy or RBAC must refuse every attempt, and still let the syncer write what it
// writes.
package attack
