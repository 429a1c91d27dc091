// Package desired computes, as pure functions, what the clusterset syncer
// writes into a target cluster for one exported service (namespace, name):
// the KEP-1645 merge of every member's ServiceExport and Service, the
// ServiceExport conditions, the derived Service's name (ChooseDerivedName), the
// derived Service, the ServiceImport and its status, the mirrored
// EndpointSlices and the filter on member endpoint addresses, plus equality
// helpers that tell a writer when an existing object already matches so that a
// resync makes no write. What depends on the target cluster (its view of the
// derived names, its Service CIDRs and families, its cluster ID) is passed in.
//
// Nothing here talks to an apiserver. Inputs are never mutated (they are
// usually informer cache objects) and outputs are canonical: sorted ports,
// endpoints, clusters and slices, so that equal inputs give equal outputs.
//
// # Mirrored EndpointSlice names
//
// The endpoints of one source cluster are grouped by address type and by port
// set, and each group is cut into slices of at most the configured endpoints
// per slice. Without live slices the cut is in address order; afterwards an
// endpoint stays in the slice it is in, new ones fill slices with room, then
// new slices, and a group that would keep two or more slices more than it
// needs is cut afresh (assignEndpoints). A slice is named
//
//	<derived name>-<cluster-id>[.<family>][.p<ports>][.<n>]
//
// where
//   - .<family> ("ipv4" or "ipv6") is present only for the address type that is
//     not the source Service's primary family (spec.ipFamilies[0], IPv4 if unset);
//   - .p<ports> (8 hex digits of the port set's FNV-1a hash) is present only for a port
//     set other than the family's main one (the one with most endpoints, ties
//     broken by hash), which happens while a source Service's target ports change;
//   - .<n> (n = 2, 3, ...) numbers the further slices of a group beyond the first
//     (a new slice takes the smallest free number).
//
// Cluster IDs are DNS labels and cannot contain a dot, so the dotted suffixes
// can never collide with another cluster's names. A single-family cluster with
// up to that many endpoints therefore has exactly one slice, named
// <derived name>-<cluster-id>, where the derived name is derived-<adler32> or,
// on a collision, its fallback.
package desired
