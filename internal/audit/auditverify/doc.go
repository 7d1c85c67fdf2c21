// Package auditverify is the auditor's side of the audit log: it verifies a
// log directory or an export offline, builds and checks inclusion and
// consistency proofs, and exports a consistent copy of a live log.
//
// It reads the log format only — never the writer's code in
// internal/audit — so that what an auditor runs stands on its own: given
// the files and a verifier key it trusts, it needs nothing from the gateway.
// Merkle hashing and proofs come from golang.org/x/mod/sumdb/tlog, and
// signatures from golang.org/x/mod/sumdb/note.
//
// # What is read
//
// A log directory (the gateway's <data-dir>/audit) or an export holds:
//
//	segments/<first idx, 12 digits>.jsonl   the records, one JSON line each, in order
//	checkpoint                              the latest signed checkpoint
//	checkpoints/<size, 12 digits>.note      every signed checkpoint
//	verifier.key                            the note verifier key (informational)
//	hashes                                  tlog stored hashes (log directory only)
//	FORMAT                                  "scopegate-audit-export v1" (export only)
//
// An export may also be a .tar.gz archive of the same files.
//
// Nothing in the directory is trusted except through the verifier key the
// auditor passes in: the tree is recomputed from the records, verifier.key
// is never used for verification, and the hashes file is read only as a
// hint to name the first bad record precisely, each hint being proved
// against a signed root before it is believed (see [VerifyError]).
//
// # What verification proves, and what it cannot
//
// Every record covered by a signed checkpoint is exactly the record that
// was signed, at the position it was signed at: an edit, a deletion, a
// swap or a truncation below a checkpoint is detected. With an older
// checkpoint the auditor kept ([VerifyOptions].Prev), a history rewritten
// by someone holding the signing key is detected too. Records written after
// the last checkpoint are checked for form only (Report.Uncovered counts
// them), and a record that was never written cannot be detected.
package auditverify
