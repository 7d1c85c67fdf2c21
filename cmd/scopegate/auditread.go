package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// tailPollInterval is how often "audit tail -f" looks for new records.
const tailPollInterval = 200 * time.Millisecond

func newAuditTailCmd(e *env) *cobra.Command {
	var dataDir, output string
	var n int
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail [-f] [-n N]",
		Short: "Print the latest audit records, and follow new ones with -f",
		Long: `tail prints the last N records of the audit log, one line each for people:
time, position, event and its main fields (for authz events the key,
principal, decision, reason and resource; for admin changes the actor and
target). With -f it then prints each new record as it is written, until
interrupted. -o json prints the records' lines exactly as stored.

tail only reads; it verifies nothing (run "audit verify" for that).`,
		Example: `  scopegate audit tail --data-dir /var/lib/scopegate
  scopegate audit tail -f -n 0 -o json --data-dir /var/lib/scopegate | my-siem-shipper`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 {
				return fmt.Errorf("-n %d: want 0 or more", n)
			}
			p, err := newRecordPrinter(cmd, output)
			if err != nil {
				return err
			}
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			lines, pos, err := lastLines(dir, n)
			if err != nil {
				return err
			}
			for _, l := range lines {
				if err := p.line(l); err != nil {
					return err
				}
			}
			if !follow {
				return nil
			}
			t := time.NewTicker(tailPollInterval)
			defer t.Stop()
			return followLog(cmd.Context(), dir, pos, t.C, p.line)
		},
	}
	registerDataDir(cmd, &dataDir)
	cmd.Flags().IntVarP(&n, "lines", "n", 20, "how many of the latest records to print first")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records until interrupted")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table (for people) or json (the lines as stored)")
	return cmd
}

// followLog calls fn with each record written after pos, looking for new
// ones each time tick fires, until ctx is done (which is not an error:
// following ends by being interrupted).
func followLog(ctx context.Context, dir string, pos followPos, tick <-chan time.Time, fn func(line []byte) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
		if err := pos.readNew(dir, fn); err != nil {
			return err
		}
	}
}

// queryFilter is what "audit query" selects records by; zero fields
// select everything.
type queryFilter struct {
	key, principal, event, decision string
	// since is inclusive and until exclusive.
	since, until time.Time
}

// match reports whether v passes every filter that is set.
func (f queryFilter) match(v recordView) bool {
	switch {
	case f.key != "" && v.get("key") != f.key &&
		!(strings.HasPrefix(v.event, "key.") && v.get("target") == f.key):
		return false
	case f.principal != "" && v.get("principal") != f.principal:
		return false
	case f.event != "" && !matchEvent(f.event, v.event):
		return false
	case f.decision != "" && v.get("decision") != f.decision:
		return false
	case !f.since.IsZero() && v.ts.Before(f.since):
		return false
	case !f.until.IsZero() && !v.ts.Before(f.until):
		return false
	}
	return true
}

// matchEvent reports whether the event name matches pattern: the same
// name, or a family such as "key.*".
func matchEvent(pattern, name string) bool {
	if family, ok := strings.CutSuffix(pattern, ".*"); ok {
		return strings.HasPrefix(name, family+".")
	}
	return name == pattern
}

func newAuditQueryCmd(e *env) *cobra.Command {
	var dataDir, output, since, until string
	var f queryFilter
	var limit int
	cmd := &cobra.Command{
		Use:   "query [--key ID] [--principal P] [--event E] [--decision allow|deny] [--since T] [--until T]",
		Short: "Print the audit records that match filters",
		Long: `query reads the audit log from the start and prints the records that match
every filter given, in order: as a table for people, or (-o json) the lines
exactly as stored.

--key matches the key field of authz and usage events and the target of key.*
admin events. --principal matches authz and admin events (usage events name
the key only). --event takes a name (authz, usage, key.revoke) or a family
(key.*). --since and --until are RFC 3339 times: since inclusive, until
exclusive. Records' times never decrease along the log, so query skips what
lies before --since and stops at --until.

query only reads; it verifies nothing (run "audit verify" for that).`,
		Example: `  scopegate audit query --data-dir /var/lib/scopegate --decision deny --since 2026-11-28T00:00:00Z
  scopegate audit query --key AbCdEfGhIjKlMnOp -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if f.decision != "" && f.decision != "allow" && f.decision != "deny" {
				return fmt.Errorf("--decision %q: want allow or deny", f.decision)
			}
			if fs.Changed("event") && f.event == "" {
				return errors.New("--event is empty: want an event name such as key.create, or a family such as key.*")
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: want 0 (no limit) or more", limit)
			}
			for _, t := range []struct {
				name, value string
				dst         *time.Time
			}{{"since", since, &f.since}, {"until", until, &f.until}} {
				v, err := timeFlag(fs, t.name, t.value)
				if err != nil {
					return err
				}
				if v != nil {
					*t.dst = *v
				}
			}
			p, err := newRecordPrinter(cmd, output)
			if err != nil {
				return err
			}
			dir, err := auditDir(dataDir)
			if err != nil {
				return err
			}
			return queryLog(dir, f, limit, p)
		},
	}
	registerDataDir(cmd, &dataDir)
	fs := cmd.Flags()
	fs.StringVar(&f.key, "key", "", "key id")
	fs.StringVar(&f.principal, "principal", "", "principal id")
	fs.StringVar(&f.event, "event", "", "event name (authz, usage, key.create, …) or family (key.*)")
	fs.StringVar(&f.decision, "decision", "", "allow or deny (authz events)")
	fs.StringVar(&since, "since", "", "first time, RFC 3339 (inclusive)")
	fs.StringVar(&until, "until", "", "last time, RFC 3339 (exclusive)")
	fs.IntVar(&limit, "limit", 0, "print at most this many records (0: all)")
	fs.StringVarP(&output, "output", "o", "table", "output format: table (for people) or json (the lines as stored)")
	return cmd
}

// errQueryDone ends a query before the end of the log.
var errQueryDone = errors.New("query done")

// queryLog prints the records of the log directory dir that f matches, at
// most limit of them when limit > 0.
func queryLog(dir string, f queryFilter, limit int, p *recordPrinter) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	if err := p.header(); err != nil {
		return err
	}
	printed := 0
	for i, seg := range segs {
		// A segment whose successor starts before since lies wholly before
		// it: records' times never decrease.
		if !f.since.IsZero() && i+1 < len(segs) {
			if t, ok := firstRecordTime(segs[i+1].path); ok && t.Before(f.since) {
				continue
			}
		}
		_, err := scanSegment(seg.path, 0, func(line []byte, at int64) error {
			v, err := viewRecord(line)
			if err != nil {
				p.warn(fmt.Sprintf("%s at byte %d", relSegment(seg.path), at), err)
				return nil
			}
			if !f.until.IsZero() && !v.ts.Before(f.until) {
				return errQueryDone
			}
			if !f.match(v) {
				return nil
			}
			if err := p.record(line, v); err != nil {
				return err
			}
			if printed++; limit > 0 && printed >= limit {
				return errQueryDone
			}
			return nil
		})
		if errors.Is(err, errQueryDone) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// firstRecordTime returns the time of the first record of the segment at
// path, if it can be read.
func firstRecordTime(path string) (t time.Time, ok bool) {
	scanSegment(path, 0, func(line []byte, _ int64) error {
		if v, err := viewRecord(line); err == nil {
			t, ok = v.ts, true
		}
		return errStopScan
	})
	return t, ok
}

// relSegment names a segment file as it is named inside a log directory.
func relSegment(path string) string {
	return auditSegmentsDir + "/" + filepath.Base(path)
}

// recordPrinter prints records as tail and query show them.
type recordPrinter struct {
	json   bool
	out    io.Writer
	errOut io.Writer
}

func newRecordPrinter(cmd *cobra.Command, output string) (*recordPrinter, error) {
	if output != "table" && output != "json" {
		return nil, fmt.Errorf("--output %q: want table or json", output)
	}
	return &recordPrinter{json: output == "json", out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()}, nil
}

// header prints the column names of the table form.
func (p *recordPrinter) header() error {
	if p.json {
		return nil
	}
	_, err := fmt.Fprintln(p.out, recordHeader)
	return err
}

// line prints a record line as it was read.
func (p *recordPrinter) line(line []byte) error {
	if p.json {
		return writeJSONLine(p.out, line)
	}
	v, err := viewRecord(line)
	if err != nil {
		p.warn("a line", err)
		return nil
	}
	return p.record(line, v)
}

// record prints a record: its line, or the line for people.
func (p *recordPrinter) record(line []byte, v recordView) error {
	if p.json {
		return writeJSONLine(p.out, line)
	}
	_, err := fmt.Fprintln(p.out, formatRecord(v))
	return err
}

// warn says on stderr that a line was skipped: it is not a record.
func (p *recordPrinter) warn(where string, err error) {
	fmt.Fprintf(p.errOut, "warning: skipped %s: not an audit record (%v); run scopegate audit verify\n", where, err)
}
