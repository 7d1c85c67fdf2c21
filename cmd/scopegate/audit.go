package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/scopegate/scopegate/internal/audit/auditverify"
	"github.com/scopegate/scopegate/internal/config"
)

// The audit commands work on files only: the audit log in a data directory,
// or an export of it. They never call the admin API and never write to the
// log, so they run on an auditor's machine, and beside a running gateway.
// The checks themselves are internal/audit/auditverify's; this file and its
// siblings (auditproof.go, auditrecords.go) only parse flags and print.

// newAuditCmd returns "scopegate audit", which verifies, exports, proves
// and reads the audit log.
func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, export, prove and read the tamper-evident audit log (offline)",
		Long: `audit works on the audit log's files: a gateway data directory (the log is
in its audit/ directory), the audit directory itself, or an export. It needs
no server and never writes to the log, so every subcommand is safe while the
gateway runs.

An auditor needs only the verifier key ("audit key" prints it) and the
files: "audit verify" recomputes the Merkle tree from every record and checks
each signed checkpoint against it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newAuditKeyCmd(e),
		newAuditKeygenCmd(e),
		newAuditVerifyCmd(e),
		newAuditExportCmd(e),
		newAuditProveCmd(e),
		newAuditVerifyProofCmd(e),
		newAuditConsistencyCmd(e),
		newAuditVerifyConsistencyCmd(e),
		newAuditTailCmd(e),
		newAuditQueryCmd(e),
	)
	return cmd
}

// registerDataDir adds the --data-dir flag of the commands that read a
// gateway's own log.
func registerDataDir(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "data-dir", config.DefaultDataDir, "the gateway's data directory (or its audit directory)")
}

// registerVKey adds the --vkey flag of the commands an auditor runs.
func registerVKey(cmd *cobra.Command, vkey *string) {
	cmd.Flags().StringVar(vkey, "vkey", "", `verifier key you trust, or @FILE to read it from FILE (from "audit key"; required)`)
	cmd.MarkFlagRequired("vkey")
}

func newAuditKeyCmd(e *env) *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Print the verifier key of the audit log's checkpoints",
		Long: `key prints the note verifier key that checks the audit log's signed
checkpoints: one line, <origin>+<key hash>+<public key>. Give it to auditors
through a channel they trust; it is public, and it is all they need besides
the log to run "audit verify".`,
		Example: `  scopegate audit key --data-dir /var/lib/scopegate > audit.vkey`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			vkey, err := logVerifierKey(dir)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), vkey)
			return err
		},
	}
	registerDataDir(cmd, &dataDir)
	return cmd
}

func newAuditVerifyCmd(e *env) *cobra.Command {
	var vkeyFlag, prevFile string
	cmd := &cobra.Command{
		Use:   "verify --vkey KEY [--prev CHECKPOINT] PATH",
		Short: "Verify an audit log or an export against the verifier key",
		Long: `verify checks the audit log at PATH — a data directory, an audit
directory, an export directory or a .tar.gz export — with the verifier key
you trust (--vkey, never the key stored beside the log). It checks every
checkpoint's signature, recomputes the Merkle tree over every record with the
record's position, and checks that each signed checkpoint has the tree's root
at its size. An edited, deleted, reordered or cut-off record fails.

--prev takes a checkpoint you kept from an earlier verification: the log must
extend the tree it signed, which catches a history rewritten and re-signed
by someone holding the signing key. Keep a copy of the checkpoint file after
each verification for the next one.

verify exits 0 and prints a summary when everything verifies. Otherwise it
exits 1 and stderr says why, naming the first bad record's position. Records
written after the latest checkpoint are only checked for form: nothing signed
covers them yet (the summary counts them).`,
		Example: `  scopegate audit verify --vkey @audit.vkey /var/lib/scopegate
  scopegate audit verify --vkey @audit.vkey --prev last-checkpoint audit-2026-11.tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vkey, err := readVKey(vkeyFlag)
			if err != nil {
				return err
			}
			var opts auditverify.VerifyOptions
			if prevFile != "" {
				if opts.Prev, err = readCheckpointFile(prevFile); err != nil {
					return fmt.Errorf("--prev: %w", err)
				}
			}
			rep, err := auditverify.Verify(cmd.Context(), args[0], vkey, opts)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "ok: %s, checkpoint %d (origin %s), %d after the last checkpoint, %s checked\n",
				plural(int(rep.Records), "record"), rep.CheckpointSize, rep.Origin, rep.Uncovered, plural(rep.CheckpointsChecked, "checkpoint"))
			if err == nil && prevFile == "" {
				// Without an older checkpoint, a log cut back to an earlier
				// signed size, with the newer checkpoints removed, verifies.
				_, err = fmt.Fprintln(cmd.ErrOrStderr(), "note: no --prev checkpoint given, so a rollback to an earlier signed state is not detected; keep this checkpoint and pass it next time")
			}
			return err
		},
	}
	registerVKey(cmd, &vkeyFlag)
	cmd.Flags().StringVar(&prevFile, "prev", "", "an older checkpoint you kept; the log must be consistent with it")
	return cmd
}

func newAuditExportCmd(e *env) *cobra.Command {
	var dataDir, out, configPath string
	cmd := &cobra.Command{
		Use:   "export --out PATH",
		Short: "Copy the audit log, up to its latest checkpoint, into a self-contained export",
		Long: `export writes a copy of the audit log that an auditor can verify on its own:
the records up to the latest signed checkpoint, every checkpoint up to it,
and the verifier key (for reference: the auditor verifies with the key they
trust). PATH is a new directory, or a .tar.gz archive when it ends in
.tar.gz; it must not exist. The export appears at PATH only once complete.

It is safe while the gateway runs: records appended after the latest
checkpoint are left out, and the next export will include them.

With --config naming a cluster configuration (audit.driver postgres), the
cluster log is exported from PostgreSQL instead, every sequenced record and
checkpoint, into the directory PATH in the same layout.`,
		Example: `  scopegate audit export --data-dir /var/lib/scopegate --out audit-2026-11.tar.gz
  scopegate audit verify --vkey @audit.vkey audit-2026-11.tar.gz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath != "" {
				if err := exportClusterAudit(cmd.Context(), e, configPath, out); err != nil {
					return err
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "ok: exported to %s\n", out)
				return err
			}
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			if err := auditverify.Export(cmd.Context(), dir, out); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "ok: exported to %s\n", out)
			return err
		},
	}
	registerDataDir(cmd, &dataDir)
	cmd.Flags().StringVar(&out, "out", "", "the export to create: a directory, or a .tar.gz archive (required)")
	cmd.Flags().StringVar(&configPath, "config", "", "export the cluster audit log of this configuration (audit.driver postgres) from PostgreSQL")
	cmd.MarkFlagRequired("out")
	return cmd
}

// Names in an audit log directory (see internal/audit's package
// documentation, which fixes them).
const (
	auditSubdir       = "audit"
	auditVerifierFile = "verifier.key"
	auditSegmentsDir  = "segments"
	auditLatestFile   = "checkpoint"
)

// auditDir returns the audit log directory for dir: dir/audit when dir is
// a data directory, or dir itself when it is already a log directory (or
// an export directory).
func auditDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("--data-dir is empty")
	}
	if isDir(filepath.Join(dir, auditSubdir)) {
		return filepath.Join(dir, auditSubdir), nil
	}
	if isDir(filepath.Join(dir, auditSegmentsDir)) || fileExists(filepath.Join(dir, auditLatestFile)) {
		return dir, nil
	}
	if !isDir(dir) {
		return "", fmt.Errorf("no audit log: %s is not a directory", dir)
	}
	return "", fmt.Errorf("no audit log in %s: it has no %s directory (run scopegate init or serve first, or pass --data-dir)", dir, auditSubdir)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// logVerifierKey reads and checks the verifier key stored in the log
// directory dir. It is the key of the log at hand, right for the commands
// the operator runs on their own log (key, prove, consistency); an
// auditor passes the key they trust instead (--vkey).
func logVerifierKey(dir string) (string, error) {
	b, err := readLimited(filepath.Join(dir, auditVerifierFile))
	if err != nil {
		return "", fmt.Errorf("read verifier key: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	if err := checkVKey(vkey); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, auditVerifierFile), err)
	}
	return vkey, nil
}

// readVKey returns the verifier key a --vkey value names: the key itself,
// or the content of FILE for @FILE.
func readVKey(v string) (string, error) {
	vkey := v
	if file, ok := strings.CutPrefix(v, "@"); ok {
		if file == "" {
			return "", errors.New("--vkey @FILE: the file name is empty")
		}
		b, err := readLimited(file)
		if err != nil {
			return "", fmt.Errorf("--vkey: %w", err)
		}
		vkey = string(b)
	}
	vkey = strings.TrimSpace(vkey)
	if err := checkVKey(vkey); err != nil {
		return "", fmt.Errorf("--vkey: %w", err)
	}
	return vkey, nil
}

// checkVKey reports whether vkey is a note verifier key, so that a
// mistyped key is named as such and not reported as a log that fails.
func checkVKey(vkey string) error {
	if vkey == "" {
		return errors.New("empty verifier key")
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return fmt.Errorf("not a verifier key (want <origin>+<hash>+<key>, as printed by scopegate audit key): %v", err)
	}
	return nil
}

// readCheckpointFile reads a signed checkpoint file; its signature is
// checked by whoever parses it.
func readCheckpointFile(path string) ([]byte, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// maxSmallFile bounds the files the audit commands read whole: keys,
// checkpoints, proofs. None is larger than a few kilobytes.
const maxSmallFile = 1 << 20

// readLimited reads a small file, refusing one larger than maxSmallFile
// (a wrong path, such as a segment passed as a checkpoint).
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllLimited(f, path)
}

func readAllLimited(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSmallFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxSmallFile {
		return nil, fmt.Errorf("%s: larger than %d bytes, not a key, checkpoint or proof", name, maxSmallFile)
	}
	return b, nil
}

// writeOutput writes b to the file out, or to stdout when out is empty or
// "-".
func writeOutput(cmd *cobra.Command, out string, b []byte) error {
	if out == "" || out == "-" {
		_, err := cmd.OutOrStdout().Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// readInput reads the small file name, or stdin for "-".
func readInput(cmd *cobra.Command, name string) ([]byte, error) {
	if name == "-" {
		return readAllLimited(cmd.InOrStdin(), "stdin")
	}
	return readLimited(name)
}
