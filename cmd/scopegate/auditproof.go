package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/audit/auditverify"
)

// The proof commands come in pairs: the operator builds a proof from the
// log (prove, consistency), and anyone holding the verifier key checks it
// with nothing but the proof and the checkpoints (verify-proof,
// verify-consistency). The proofs are auditverify's stable text forms.

func newAuditProveCmd(e *env) *cobra.Command {
	var dataDir, checkpointFile, out string
	cmd := &cobra.Command{
		Use:   "prove N [--checkpoint FILE] [--out FILE]",
		Short: "Write an inclusion proof of record N against a signed checkpoint",
		Long: `prove writes a proof that record N (its position, from 0) is in the tree a
signed checkpoint covers: the record's line, its Merkle audit path and the
checkpoint. Whoever holds the verifier key can check it offline with
"audit verify-proof", without the rest of the log.

The checkpoint is the log's latest, or the one in --checkpoint (say, the one
an auditor kept). The proof is built from the records and checked against the
checkpoint's root first, so a log that does not match its checkpoint gives no
proof. A record written after the latest checkpoint cannot be proved until
the next one is signed, within seconds on a running gateway.`,
		Example: `  scopegate audit prove 1234 --data-dir /var/lib/scopegate --out record-1234.proof
  scopegate audit verify-proof --vkey @audit.vkey record-1234.proof`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			idx, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || idx < 0 {
				return fmt.Errorf("prove: record %q: want a position, 0 or more", args[0])
			}
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			vkey, err := logVerifierKey(dir)
			if err != nil {
				return err
			}
			ck, err := proofCheckpoint(dir, vkey, checkpointFile)
			if err != nil {
				return err
			}
			if idx >= ck.Size {
				return fmt.Errorf("prove: checkpoint %d covers %s; record %d is not signed yet: wait for the next checkpoint", ck.Size, plural(int(ck.Size), "record"), idx)
			}
			p, err := auditverify.ProveInclusion(dir, idx, ck)
			if err != nil {
				return err
			}
			text, err := p.MarshalText()
			if err != nil {
				return err
			}
			return writeProof(cmd, out, text, fmt.Sprintf("inclusion proof of record %d against checkpoint %d", idx, ck.Size))
		},
	}
	registerDataDir(cmd, &dataDir)
	cmd.Flags().StringVar(&checkpointFile, "checkpoint", "", "signed checkpoint to prove against (default: the log's latest)")
	cmd.Flags().StringVar(&out, "out", "", "file to write the proof to (default: stdout)")
	return cmd
}

// proofCheckpoint returns the checkpoint in file, or the log's latest when
// file is empty, verified with the log's key.
func proofCheckpoint(dir, vkey, file string) (auditverify.Checkpoint, error) {
	if file == "" {
		ck, err := auditverify.LatestCheckpoint(dir, vkey)
		if err != nil {
			return auditverify.Checkpoint{}, fmt.Errorf("latest checkpoint: %w", err)
		}
		return ck, nil
	}
	return parseCheckpointFile(file, vkey)
}

// parseCheckpointFile reads the signed checkpoint in file and verifies it
// with vkey.
func parseCheckpointFile(file, vkey string) (auditverify.Checkpoint, error) {
	raw, err := readCheckpointFile(file)
	if err != nil {
		return auditverify.Checkpoint{}, err
	}
	ck, err := auditverify.ParseCheckpoint(raw, vkey)
	if err != nil {
		return auditverify.Checkpoint{}, fmt.Errorf("%s: %w", file, err)
	}
	return ck, nil
}

// writeProof writes a proof to out (stdout when empty) and, when it went
// to a file, says what it wrote.
func writeProof(cmd *cobra.Command, out string, text []byte, what string) error {
	if err := writeOutput(cmd, out, text); err != nil {
		return err
	}
	if out == "" || out == "-" {
		return nil
	}
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "ok: wrote the %s to %s\n", what, out)
	return err
}

func newAuditVerifyProofCmd(e *env) *cobra.Command {
	var vkeyFlag string
	cmd := &cobra.Command{
		Use:   "verify-proof --vkey KEY FILE",
		Short: "Check an inclusion proof offline and print the record it proves",
		Long: `verify-proof checks an inclusion proof written by "audit prove" with the
verifier key you trust: the checkpoint's signature, that the record is a
well-formed line for its position, and the Merkle path from the record to the
signed root. It prints the proven record's line on stdout (and a summary on
stderr), or exits 1 naming what does not verify. FILE "-" is stdin.`,
		Example: `  scopegate audit verify-proof --vkey @audit.vkey record-1234.proof`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readVKey(vkeyFlag)
			if err != nil {
				return err
			}
			text, err := readInput(cmd, args[0])
			if err != nil {
				return err
			}
			p, err := auditverify.VerifyInclusion(text, vkey)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", p.Record); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "ok: record %d is in checkpoint %d (origin %s)\n", p.Index, p.Checkpoint.Size, p.Checkpoint.Origin)
			return nil
		},
	}
	registerVKey(cmd, &vkeyFlag)
	return cmd
}

func newAuditConsistencyCmd(e *env) *cobra.Command {
	var dataDir, out string
	cmd := &cobra.Command{
		Use:   "consistency OLD_CHECKPOINT NEW_CHECKPOINT [--out FILE]",
		Short: "Write a proof that a newer checkpoint extends an older one",
		Long: `consistency writes a proof that the tree NEW_CHECKPOINT signed extends the
one OLD_CHECKPOINT signed: every record the old one covered is in the new
tree, unchanged and in place. An auditor who kept the old checkpoint checks
it offline with "audit verify-consistency", without the records.

Both files are signed checkpoints of this log (checkpoints/<size>.note in
its audit directory, or copies). The proof is checked against both roots
before it is written, so a log that does not match them gives no proof.`,
		Example: `  scopegate audit consistency kept.note /var/lib/scopegate/audit/checkpoint \
      --data-dir /var/lib/scopegate --out kept-to-latest.proof`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			vkey, err := logVerifierKey(dir)
			if err != nil {
				return err
			}
			older, newer, err := parseCheckpointPair(args[0], args[1], vkey)
			if err != nil {
				return err
			}
			p, err := auditverify.ProveConsistency(dir, older.Size, newer.Size)
			if err != nil {
				return err
			}
			text, err := p.MarshalText()
			if err != nil {
				return err
			}
			if err := auditverify.VerifyConsistency(older, newer, text); err != nil {
				return fmt.Errorf("the log's records do not match the checkpoints, so there is no proof to give (run audit verify): %w", err)
			}
			return writeProof(cmd, out, text, fmt.Sprintf("consistency proof from checkpoint %d to %d", older.Size, newer.Size))
		},
	}
	registerDataDir(cmd, &dataDir)
	cmd.Flags().StringVar(&out, "out", "", "file to write the proof to (default: stdout)")
	return cmd
}

// parseCheckpointPair reads and verifies an old and a new checkpoint, in
// that order.
func parseCheckpointPair(oldFile, newFile, vkey string) (older, newer auditverify.Checkpoint, err error) {
	if older, err = parseCheckpointFile(oldFile, vkey); err != nil {
		return older, newer, err
	}
	if newer, err = parseCheckpointFile(newFile, vkey); err != nil {
		return older, newer, err
	}
	if older.Size > newer.Size {
		return older, newer, fmt.Errorf("%s (size %d) is newer than %s (size %d): give the older checkpoint first",
			oldFile, older.Size, newFile, newer.Size)
	}
	return older, newer, nil
}

func newAuditVerifyConsistencyCmd(e *env) *cobra.Command {
	var vkeyFlag string
	cmd := &cobra.Command{
		Use:   "verify-consistency --vkey KEY OLD_CHECKPOINT NEW_CHECKPOINT PROOF",
		Short: "Check offline that a newer checkpoint extends an older one",
		Long: `verify-consistency checks a proof written by "audit consistency" with the
verifier key you trust: both checkpoints' signatures, and that the new tree
extends the old one. It exits 1 if the history the old checkpoint signed was
rewritten. PROOF "-" is stdin.`,
		Example: `  scopegate audit verify-consistency --vkey @audit.vkey kept.note latest.note kept-to-latest.proof`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readVKey(vkeyFlag)
			if err != nil {
				return err
			}
			older, newer, err := parseCheckpointPair(args[0], args[1], vkey)
			if err != nil {
				return err
			}
			text, err := readInput(cmd, args[2])
			if err != nil {
				return err
			}
			if err := auditverify.VerifyConsistency(older, newer, text); err != nil {
				return fmt.Errorf("%s: %w", args[2], err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "ok: checkpoint %d extends checkpoint %d (origin %s)\n", newer.Size, older.Size, newer.Origin)
			return err
		},
	}
	registerVKey(cmd, &vkeyFlag)
	return cmd
}
