// Package metrics is the gateway's Prometheus instrumentation: a
// [Metrics] built on its own registry, the /metrics handler, and the typed
// methods the data plane, the audit log and the alert dispatcher call.
//
// It is an adapter at the edge, like the store packages: it imports
// client_golang so that nothing else has to. The packages it measures
// declare the small interfaces they call (proxy.Metrics,
// audit.Observer, the dispatcher's Alert), and *Metrics satisfies each;
// main wires them. No global registry is used, and nothing is registered
// at import time: [New] builds everything, the Go runtime and process
// collectors included, on the Metrics' own registry.
//
// # Bounded labels
//
// Every label value comes from a small set the operator or the code fixes:
// feature names from the configuration, endpoint names, decisions and
// reasons the gateway defines, HTTP status codes, limit kinds, scope types
// and alert rules. No key id, principal, client address, model, path or
// secret is ever a label value: models are left out because a wildcard
// scope lets the client choose them, and unrouted paths are counted under
// the endpoint "unknown". As a second line of defence each vector keeps at
// most [MaxSeries] label combinations; observations past that are counted
// under the value "other" for every label, so a bug that passed an
// unbounded value could not grow the registry without limit.
//
// # Hot path
//
// The request path calls these methods on every request. Each keeps the
// children of its vector in a copy-on-write map keyed by the label tuple:
// after the first request of a combination, finding its counter is one
// atomic load and one map read, with no allocation and no lock.
//
// # Security
//
// /metrics is served without a credential on the admin listener, which
// listens on loopback by default; see docs/metrics.md for why and for how
// to restrict it.
package metrics
