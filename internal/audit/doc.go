// Package audit records every decision and every admin change as one JSON
// line per event.
//
// This is the interim log of the key-lifecycle milestone: an append-only
// file of JSON lines, each written and fsynced before the change it records
// is reported done. The tamper-evident Merkle log (golang.org/x/mod/sumdb/
// tlog, signed checkpoints) replaces the storage behind the same Recorder in
// the audit-log milestone; the line format below is already versioned.
//
// # Line format (version 1)
//
// A JSON object with fields in a fixed order, strings and integers only:
//
//	{"v":1,"ts":"2026-11-28T10:00:00.000Z","event":"key.create","actor":"admin/AbC…","target":"<key id>","principal":"alice@example.com","changes":[{"field":"status","before":"","after":"active"}]}
//
// Never a secret, a prompt or a completion: admin events carry ids and the
// text of changed settings only.
package audit
