// Package anomaly watches the stream of audit events for misuse of keys
// while it happens, and turns what it finds into alerts.
//
// [Detectors] read each audit record after it is durable, off the request
// path, and raise an [Alert] when a rule trips: a key probing scopes it
// lacks, a burst of invalid credentials from one network, a key's rate far
// above its own baseline, a key used from a network it never used. A
// [Dispatcher] groups repeated alerts about one subject, records each
// group's first alert in the audit log and the alert store, counts it,
// posts it to a webhook, and runs the rule's action (suspending the key).
// The [Inbox] is how admins read the stored alerts and acknowledge them,
// each within its reach.
//
// The package does no I/O of its own: the audit log, the alert store, the
// webhook and the key issuer are interfaces the caller provides.
package anomaly
