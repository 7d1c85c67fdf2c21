package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/audit/auditverify"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/testenv"
)

// testSigner returns a fresh note key pair: the signer every replica
// shares and the verifier key an auditor trusts.
func testSigner(t *testing.T) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "scopegate/test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, vkey
}

// runningSequencer is a sequencer whose Run goroutine the test owns.
type runningSequencer struct {
	*postgres.AuditSequencer
	stop func() // cancels Run and waits for it to return
}

// startSequencer runs a sequencer on a pool of its own until stopped or
// until the test ends.
func startSequencer(t *testing.T, dsn string, signer note.Signer, opts postgres.AuditSequencerOptions) runningSequencer {
	t.Helper()
	s := postgres.NewAuditSequencer(mustOpen(t, small(dsn)), signer, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return runningSequencer{s, stop}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// leaders returns the indexes of the sequencers that believe they lead.
func leaders(seqs []runningSequencer, alive []bool) []int {
	var out []int
	for i, s := range seqs {
		if alive[i] && s.Leading() {
			out = append(out, i)
		}
	}
	return out
}

// count runs a query returning one integer.
func count(t *testing.T, db *postgres.DB, sql string) int64 {
	t.Helper()
	var n int64
	if err := postgres.QueryRowForTest(t.Context(), db, sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestAuditClusterLog appends from three replicas (separate pools, many
// goroutines each) while three sequencers compete for the lead; the leader
// is stopped, and then the next one's session is killed by the server,
// under load. Every event must be in the log exactly once, in a
// contiguous order that keeps each writer's own order, and the export
// must verify against the verifier key — and stop verifying once a record
// is edited in the database.
func TestAuditClusterLog(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresSchema(t)
	admin := mustOpen(t, small(dsn))
	signer, vkey := testSigner(t)

	opts := postgres.AuditSequencerOptions{Poll: 5 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond, BatchSize: 50,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	seqs := make([]runningSequencer, 3)
	alive := []bool{true, true, true}
	for i := range seqs {
		seqs[i] = startSequencer(t, dsn, signer, opts)
	}

	const replicas, writers, perWriter = 3, 6, 150
	const total = replicas * writers * perWriter
	var wg sync.WaitGroup
	for r := range replicas {
		app := postgres.NewAuditAppender(mustOpen(t, small(dsn)))
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					e := audit.Admin{Action: "key.create", Actor: fmt.Sprintf("r%d-w%d", r, w), Target: strconv.Itoa(i)}
					if err := app.Append(ctx, e); err != nil {
						t.Errorf("Append = %v", err)
						return
					}
				}
			})
		}
	}

	// Kill the leader twice under load: first the process (its context),
	// then only its session, from the server's side.
	waitFor(t, "a leader", func() bool { return len(leaders(seqs, alive)) == 1 })
	waitFor(t, "500 records", func() bool { return count(t, admin, `SELECT count(*) FROM audit_records`) >= 500 })
	first := leaders(seqs, alive)[0]
	t.Logf("stopping sequencer %d at %d records", first, count(t, admin, `SELECT count(*) FROM audit_records`))
	seqs[first].stop()
	alive[first] = false
	waitFor(t, "a new leader", func() bool { return len(leaders(seqs, alive)) == 1 })
	before := count(t, admin, `SELECT count(*) FROM audit_records`)
	waitFor(t, "the new leader to sequence", func() bool { return count(t, admin, `SELECT count(*) FROM audit_records`) > before })
	if n := count(t, admin, `SELECT count(*) FROM audit_records`); n < total {
		t.Logf("killing the session of sequencer %v at %d records", leaders(seqs, alive), n)
		killed := count(t, admin, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND classid = x'61756474'::int::oid AND objid = 'audit_records'::regclass::oid AND granted) AS k`)
		if killed != 1 {
			t.Errorf("terminated %d lock holders, want 1", killed)
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	waitFor(t, "every event sequenced and signed", func() bool {
		return count(t, admin, `SELECT count(*) FROM audit_pending`) == 0 &&
			count(t, admin, `SELECT count(*) FROM audit_records`) == total &&
			count(t, admin, `SELECT coalesce(max(size), 0) FROM audit_checkpoints`) == total
	})
	if got := leaders(seqs, alive); len(got) != 1 {
		t.Errorf("sequencers leading at the end: %v, want exactly one", got)
	}
	checkRecords(t, admin, total)
	checkCheckpoints(t, admin, vkey)

	dir := filepath.Join(t.TempDir(), "export")
	if err := admin.ExportAudit(ctx, dir); err != nil {
		t.Fatalf("ExportAudit = %v", err)
	}
	rep, err := auditverify.Verify(ctx, dir, vkey, auditverify.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify(export) = %v", err)
	}
	if rep.Records != total || rep.CheckpointSize != total || rep.Uncovered != 0 {
		t.Errorf("Verify(export) = %+v, want %d records all covered", rep, total)
	}
	if err := admin.ExportAudit(ctx, dir); err == nil {
		t.Error("ExportAudit into a non-empty directory succeeded")
	}

	// An edited record no longer verifies.
	const edited = 1234
	if n := count(t, admin, fmt.Sprintf(`WITH u AS (UPDATE audit_records
		SET line = convert_to(replace(convert_from(line, 'UTF8'), '"key.create"', '"key.delete"'), 'UTF8')
		WHERE idx = %d RETURNING 1) SELECT count(*) FROM u`, edited)); n != 1 {
		t.Fatalf("tampered with %d records, want 1", n)
	}
	tampered := filepath.Join(t.TempDir(), "tampered")
	if err := admin.ExportAudit(ctx, tampered); err != nil {
		t.Fatalf("ExportAudit = %v", err)
	}
	_, err = auditverify.Verify(ctx, tampered, vkey, auditverify.VerifyOptions{})
	if e, ok := errors.AsType[*auditverify.VerifyError](err); !ok || e.Position != edited {
		t.Errorf("Verify(tampered export) = %v, want a *VerifyError at record %d", err, edited)
	}
}

// checkRecords checks the log holds total records, numbered from 0 with
// no gap, each line decoding to its own idx and ts, ts never decreasing,
// every appended event exactly once, and each writer's events in the
// order it appended them.
func checkRecords(t *testing.T, db *postgres.DB, total int) {
	t.Helper()
	recs, err := postgres.AuditRecordsForTest(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != total {
		t.Fatalf("%d records, want %d", len(recs), total)
	}
	next := map[string]int{} // actor → the target it must write next
	var last time.Time
	for i, r := range recs {
		rec, err := audit.Decode(r.Line)
		if err != nil {
			t.Fatalf("record %d: Decode = %v", i, err)
		}
		if r.Idx != int64(i) || rec.Index != uint64(i) || !rec.Time.Equal(r.TS) {
			t.Fatalf("record %d: idx %d, line idx %d ts %v, column ts %v", i, r.Idx, rec.Index, rec.Time, r.TS)
		}
		if rec.Time.Before(last) {
			t.Errorf("record %d: ts %v is before the previous %v", i, rec.Time, last)
		}
		last = rec.Time
		a, ok := rec.Event.(audit.Admin)
		if !ok {
			t.Fatalf("record %d is a %T", i, rec.Event)
		}
		if want := strconv.Itoa(next[a.Actor]); a.Target != want {
			t.Fatalf("record %d: %s's event %s, want %s (lost, repeated or reordered)", i, a.Actor, a.Target, want)
		}
		next[a.Actor]++
	}
}

// checkCheckpoints checks every stored checkpoint verifies.
func checkCheckpoints(t *testing.T, db *postgres.DB, vkey string) {
	t.Helper()
	notes, err := postgres.AuditCheckpointsForTest(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) == 0 {
		t.Fatal("no checkpoints")
	}
	for _, n := range notes {
		if _, err := auditverify.ParseCheckpoint(n, vkey); err != nil {
			t.Errorf("checkpoint %q: %v", n, err)
		}
	}
}

// TestAuditSequencerClockBack: a clock that steps back does not make ts
// decrease along the log.
func TestAuditSequencerClockBack(t *testing.T) {
	ctx := t.Context()
	dsn := testenv.PostgresSchema(t)
	db := mustOpen(t, small(dsn))
	signer, vkey := testSigner(t)
	var mu sync.Mutex
	clock := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(-time.Second)
		return clock
	}
	startSequencer(t, dsn, signer, postgres.AuditSequencerOptions{Poll: 5 * time.Millisecond, Now: now, CheckpointInterval: time.Nanosecond})
	app := postgres.NewAuditAppender(db)
	for i := range 5 {
		if err := app.Append(ctx, audit.Admin{Action: "key.create", Actor: "r0-w0", Target: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the event sequenced", func() bool { return count(t, db, `SELECT count(*) FROM audit_records`) == int64(i+1) })
	}
	if err := app.Append(ctx, audit.Admin{Action: "authz"}); err == nil {
		t.Error("Append(Admin authz) succeeded, want an error")
	}
	checkRecords(t, db, 5)
	waitFor(t, "the last checkpoint", func() bool { return count(t, db, `SELECT max(size) FROM audit_checkpoints`) == 5 })
	dir := filepath.Join(t.TempDir(), "export")
	if err := db.ExportAudit(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := auditverify.Verify(ctx, dir, vkey, auditverify.VerifyOptions{}); err != nil {
		t.Errorf("Verify = %v", err)
	}
}
