// Package audit records every decision and every admin change in a
// tamper-evident log: one JSON line per event, hashed into an RFC 6962
// Merkle tree (golang.org/x/mod/sumdb/tlog) whose signed checkpoints
// (golang.org/x/mod/sumdb/note) let anyone holding the verifier key prove
// that no record was edited, deleted, reordered or cut off.
//
// [Log] is the log; [Encode] and [Decode] are its line format ([EncodeBody]
// and [Line] split Encode for a log that numbers records after storing
// them, and [SignCheckpoint] signs its checkpoints); [Privacy] says how
// clients and principals are recorded.
//
// # Stability
//
// Everything below is a contract with auditors and their tools: it never
// changes. A change to a line's layout is a new "v"; a change to the files
// is a new layout beside this one. New event types may be added to version
// 1 (a reader that does not know one refuses the line); the fields of an
// existing type never change.
//
// # Line format (version 1)
//
// One JSON object per line, no whitespace, fields in a fixed order,
// strings and integers only:
//
//	{"v":1,"idx":0,"ts":"2026-11-28T10:00:00.000Z","event":"authz","req":"…",…}
//
// The rules:
//
//   - v is 1; idx is the record's position in the log, from 0; ts is the
//     time the log assigned the record, UTC, milliseconds, "Z" (it never
//     decreases along the log); event names the type, and its fields follow.
//   - Integers are decimal without leading zeros ("-0" is not written).
//   - Strings are UTF-8. Exactly these are escaped: `\"`, `\\`, `\b`, `\f`,
//     `\n`, `\r`, `\t`, and other characters below U+0020 as `\u00xx`
//     (lowercase hex). Everything else is written as is (no `\/`, no HTML
//     escaping, no other `\u`). Invalid UTF-8 in an event is written as
//     U+FFFD.
//   - A line is at most 1 MiB, without its newline.
//   - The Merkle leaf of a record is exactly its line's bytes without the
//     trailing newline: tlog.RecordHash(line).
//
// These rules make the encoding unique, so [Decode] is strict: it accepts
// only the bytes [Encode] writes.
//
// The event types and their fields, in order:
//
//	authz           req, key, principal, team, feature, scope, endpoint, resource, client_ip, decision, reason, status
//	usage           req, key, status, tokens_in, tokens_out, usage_known, latency_ms, outcome
//	<admin action>  actor, target, principal, changes
//	audit.override  reason, signed_size, signed_root, records, superseded
//	alert.<rule>    subject, principal, figures
//
// status, tokens_in, tokens_out, latency_ms, signed_size and records are
// integers; usage_known is 0 or 1; everything else is a string. An admin
// action is a dotted lowercase name such as "key.create" or
// "principal.disable" (words of a-z, 0-9 and _, starting with a letter),
// outside "audit.*" and "alert.*". Its changes field is the format's only
// nested value: an array of {"field":…,"before":…,"after":…}, all strings.
// audit.override is written when an operator opens a log that is shorter
// than its last signed checkpoint ([Override]). An alert's rule is one
// word of a-z, 0-9 and _ ("alert.budget"); its figures are
// space-separated name=value pairs ([Alert]). Events never hold a
// prompt, a completion, a request body or a secret.
//
// # Files
//
// A log lives in a directory (<data-dir>/audit):
//
//	segments/<first idx, 12 digits>.jsonl   the records, one line each, append-only; a new file every 1,000,000 records
//	hashes                                  the tree's stored hashes, 32 bytes each at offset tlog.StoredHashIndex(level, n)·32
//	checkpoints/<size, 12 digits>.note      every signed checkpoint, one file each, never rewritten
//	checkpoints/superseded-<records, 12 digits>-<k>/   checkpoints an operator override left behind (see below)
//	checkpoint                              the latest signed checkpoint, replaced atomically
//	signing.key                             the note signer key, mode 0600
//	verifier.key                            the note verifier key, one line
//
// Segment file N holds records N to N+999,999. The hashes file is derived
// from the records and can be rebuilt from them.
//
// # Checkpoints
//
// A checkpoint is a C2SP tlog-checkpoint body in a C2SP signed note,
// signed with Ed25519:
//
//	<origin>
//	<size>
//	<root hash, base64 (standard, padded)>
//
//	— <origin> <signature>
//
// The origin is the name of the note key, chosen when the key is created:
// by default "scopegate/<8 random base62 characters>/audit". The root is
// tlog.TreeHash over the first size records. A checkpoint is signed when
// the log grew and the checkpoint interval (1s by default) passed, and only
// over records already synced to disk; it is written to
// checkpoints/<size>.note first and then copied to checkpoint.
//
// # Durability and recovery
//
// [Log.Append] returns only after its record is written and synced; many
// callers share each write and sync (group commit). Stored hashes are
// written with each batch but synced only before a checkpoint is signed
// over them: recovery recomputes every hash past the last checkpoint from
// the records, so their loss in a crash costs nothing.
// If a write or sync fails, the log refuses every later record
// ([ErrFailed], [Log.Healthy]) until it is opened again.
//
// [OpenLog] recovers after a crash: a partial or malformed tail of the
// last segment (never acknowledged) is cut off, and stored hashes past the
// last checkpoint are recomputed from the records. If the records are fewer
// than the last checkpoint signed, it refuses to open ([TruncatedError]):
// signed records are missing. An operator may override that
// (LogOptions.AllowTruncatedBelowCheckpoint); the checkpoints beyond the
// records are then moved to checkpoints/superseded-<records>-<k>/ and an
// audit.override event, the first record after the cut, names them.
package audit
