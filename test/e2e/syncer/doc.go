// Package syncer holds the end-to-end tests of clusterset-syncer: a localenv clusterset of
// three real apiservers, syncers in pull mode (one per cluster) and in hub mode (one for all),
// and the "Must show" behaviours of issue 3 checked in every cluster.
package syncer
