package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scopegate/scopegate/internal/apikey"
)

// startLog opens the log in dir and runs it. The returned stop closes it
// (and is also called at the end of the test).
func startLog(tb testing.TB, dir string, opts LogOptions) (*Log, func()) {
	tb.Helper()
	l, err := OpenLog(dir, opts)
	if err != nil {
		tb.Fatalf("OpenLog: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			if err := l.Close(); err != nil {
				tb.Errorf("Close: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return l, stop
}

// fixedClock returns testTime plus one millisecond per call.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := testTime
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// readLines returns the lines of every segment in dir, in order, without
// their newlines. It fails the test on a line without a newline.
func readLines(tb testing.TB, dir string) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "segments", "*.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(paths)
	var lines [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if len(b) == 0 {
			continue
		}
		if b[len(b)-1] != '\n' {
			tb.Fatalf("%s does not end with a newline", p)
		}
		lines = append(lines, bytes.Split(b[:len(b)-1], []byte("\n"))...)
	}
	return lines
}

// readLog decodes every record in dir and checks that record i has idx i.
func readLog(tb testing.TB, dir string) []Record {
	tb.Helper()
	var out []Record
	for i, line := range readLines(tb, dir) {
		r, err := Decode(line)
		if err != nil {
			tb.Fatalf("line %d: %v", i, err)
		}
		if r.Index != uint64(i) {
			tb.Fatalf("line %d has idx %d", i, r.Index)
		}
		out = append(out, r)
	}
	return out
}

// memHashes is an in-memory tlog hash store, built independently of the
// log's hashes file.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

// treeOf builds the stored hashes of lines in memory.
func treeOf(tb testing.TB, lines [][]byte) memHashes {
	tb.Helper()
	var m memHashes
	for i, line := range lines {
		hs, err := tlog.StoredHashes(int64(i), line, m)
		if err != nil {
			tb.Fatal(err)
		}
		m = append(m, hs...)
	}
	return m
}

func testAuthz(i int) Authz {
	return Authz{RequestID: fmt.Sprintf("req-%d", i), KeyID: "KEYID0123456789a", Principal: "alice", Team: "ml",
		Feature: "chatbot", Scope: "chatbot:gpt-4o-mini", Endpoint: "/v1/chat/completions", Resource: "gpt-4o-mini",
		ClientIP: "192.0.2.0", Decision: "allow", Reason: "allowed"}
}

func TestLogAppendReadBack(t *testing.T) {
	dir := t.TempDir()
	l, stop := startLog(t, dir, LogOptions{Now: fixedClock()})
	ctx := t.Context()
	change := apikey.Change{Action: "key.create", Actor: "admin/A", Target: "K1", Principal: "alice",
		Fields: []apikey.FieldChange{{Name: "status", After: "active"}}}
	if err := l.Record(ctx, change); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if err := l.Authz(ctx, testAuthz(1)); err != nil {
		t.Fatalf("Authz: %v", err)
	}
	usage := Usage{RequestID: "req-1", KeyID: "K1", Status: 200, InputTokens: 3, OutputTokens: 4, UsageKnown: true,
		Latency: 12 * time.Millisecond, Outcome: "ok"}
	if err := l.Usage(ctx, usage); err != nil {
		t.Fatalf("Usage: %v", err)
	}
	idx, err := l.Append(ctx, testAuthz(2))
	if err != nil || idx != 3 {
		t.Fatalf("Append = %d, %v; want 3, nil", idx, err)
	}
	if got := l.Size(); got != 4 {
		t.Errorf("Size = %d, want 4", got)
	}
	stop()

	want := []Event{Admin(change), testAuthz(1), usage, testAuthz(2)}
	var got []Event
	var last time.Time
	for _, r := range readLog(t, dir) {
		got = append(got, r.Event)
		if r.Time.Before(last) || r.Time.Before(testTime) {
			t.Errorf("record %d: ts %v before %v", r.Index, r.Time, last)
		}
		last = r.Time
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records mismatch (-want +got):\n%s", diff)
	}
	for _, p := range []string{"segments/000000000000.jsonl", "hashes", signingKeyName} {
		info, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, perm)
		}
	}
}

func TestLogConcurrentAppends(t *testing.T) {
	const callers, each = 64, 40
	dir := t.TempDir()
	// Small segments, so batches cross segment boundaries.
	l, stop := startLog(t, dir, LogOptions{segmentRecords: 97})
	var (
		mu    sync.Mutex
		byIdx = map[uint64]string{}
		wg    sync.WaitGroup
	)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				req := fmt.Sprintf("c%d-%d", c, i)
				idx, err := l.Append(t.Context(), Authz{RequestID: req})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := byIdx[idx]; dup {
					t.Errorf("idx %d given to %s and %s", idx, prev, req)
				}
				byIdx[idx] = req
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	const n = callers * each
	if got := l.Size(); got != n {
		t.Fatalf("Size = %d, want %d", got, n)
	}
	stop()

	records := readLog(t, dir) // checks idx order
	if len(records) != n {
		t.Fatalf("%d records on disk, want %d", len(records), n)
	}
	for _, r := range records {
		if got := r.Event.(Authz).RequestID; got != byIdx[r.Index] {
			t.Errorf("record %d is %s, but Append returned its idx to %s", r.Index, got, byIdx[r.Index])
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "segments", "*.jsonl"))
	if want := (n + 96) / 97; len(segs) != want {
		t.Errorf("%d segments, want %d", len(segs), want)
	}
}

func TestLogSegmentsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	opts := LogOptions{segmentRecords: 3}
	for round := range 4 {
		l, stop := startLog(t, dir, opts)
		for i := range 2 + round {
			if _, err := l.Append(t.Context(), testAuthz(i)); err != nil {
				t.Fatal(err)
			}
		}
		stop()
	}
	records := readLog(t, dir) // 2+3+4+5 = 14 records
	if len(records) != 14 {
		t.Fatalf("%d records, want 14", len(records))
	}
	var names []string
	segs, _ := os.ReadDir(filepath.Join(dir, "segments"))
	for _, s := range segs {
		names = append(names, s.Name())
	}
	want := []string{"000000000000.jsonl", "000000000003.jsonl", "000000000006.jsonl", "000000000009.jsonl", "000000000012.jsonl"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("segments (-want +got):\n%s", diff)
	}
	for i, s := range want {
		b, _ := os.ReadFile(filepath.Join(dir, "segments", s))
		if n, wantN := bytes.Count(b, []byte("\n")), min(3, 14-3*i); n != wantN {
			t.Errorf("%s has %d lines, want %d", s, n, wantN)
		}
	}
}

func TestLogCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l, stop := startLog(t, dir, LogOptions{})
	if _, err := l.Checkpoint(); err != ErrNoCheckpoint {
		t.Errorf("Checkpoint of an empty log: %v, want ErrNoCheckpoint", err)
	}
	if !regexp.MustCompile(`^scopegate/[0-9A-Za-z]{8}/audit$`).MatchString(l.Origin()) {
		t.Errorf("Origin = %q", l.Origin())
	}
	for _, n := range []int{1, 2, 7, 64, 100} {
		for i := int(l.Size()); i < n; i++ {
			if _, err := l.Append(t.Context(), testAuthz(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.SignNow(t.Context()); err != nil {
			t.Fatalf("SignNow: %v", err)
		}
		msg, err := l.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		tree := checkCheckpoint(t, msg, l.VerifierKey(), l.Origin())
		if tree.N != int64(n) {
			t.Fatalf("checkpoint size %d, want %d", tree.N, n)
		}
		lines := readLines(t, dir)
		if want, _ := tlog.TreeHash(int64(n), treeOf(t, lines)); tree.Hash != want {
			t.Errorf("size %d: checkpoint root %v, tlog.TreeHash over the records %v", n, tree.Hash, want)
		}
		kept, err := os.ReadFile(filepath.Join(dir, "checkpoints", checkpointName(uint64(n))))
		if err != nil || !bytes.Equal(kept, msg) {
			t.Errorf("checkpoints/%s = %q, %v; want the checkpoint", checkpointName(uint64(n)), kept, err)
		}
		latest, err := os.ReadFile(filepath.Join(dir, latestName))
		if err != nil || !bytes.Equal(latest, msg) {
			t.Errorf("checkpoint file = %q, %v; want the latest checkpoint", latest, err)
		}
	}
	vkey := l.VerifierKey()
	stop()

	// The verifier key file is one line and the key the log reports.
	b, err := os.ReadFile(filepath.Join(dir, verifierKeyName))
	if err != nil || string(b) != vkey+"\n" {
		t.Errorf("verifier.key = %q, %v; want %q", b, err, vkey+"\n")
	}
	// A changed checkpoint no longer verifies.
	msg, _ := os.ReadFile(filepath.Join(dir, latestName))
	forged := bytes.Replace(msg, []byte("\n100\n"), []byte("\n99\n"), 1)
	v, _ := note.NewVerifier(vkey)
	if _, err := note.Open(forged, note.VerifierList(v)); err == nil {
		t.Error("a checkpoint with a changed size verifies")
	}
}

// checkCheckpoint opens a checkpoint with the verifier key and parses its
// C2SP body.
func checkCheckpoint(tb testing.TB, msg []byte, vkey, origin string) tlog.Tree {
	tb.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		tb.Fatalf("note.Open(checkpoint): %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		tb.Fatalf("checkpoint body %q, want origin %q, size, root", n.Text, origin)
	}
	var tree tlog.Tree
	if _, err := fmt.Sscan(lines[1], &tree.N); err != nil {
		tb.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		tb.Fatalf("root %q: %v", lines[2], err)
	}
	tree.Hash = tlog.Hash(root)
	return tree
}

func TestLogReadHashesProofs(t *testing.T) {
	dir := t.TempDir()
	l, _ := startLog(t, dir, LogOptions{})
	const n = 37
	for i := range n {
		if _, err := l.Append(t.Context(), testAuthz(i)); err != nil {
			t.Fatal(err)
		}
	}
	lines := readLines(t, dir)
	root, err := tlog.TreeHash(n, l)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{0, 1, 17, 36} {
		p, err := tlog.ProveRecord(n, i, l)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, n, root, i, tlog.RecordHash(lines[i])); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	if _, err := l.ReadHashes([]int64{tlog.StoredHashCount(n)}); err == nil {
		t.Error("ReadHashes beyond the durable records succeeded")
	}
}

func TestLogClose(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	if _, err := l.Append(t.Context(), testAuthz(0)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	if _, err := l.Append(t.Context(), testAuthz(1)); err != ErrClosed {
		t.Errorf("Append after Run returned: %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Run(t.Context()); err == nil {
		t.Error("Run after Close succeeded")
	}
	if err := l.Healthy(); err != ErrClosed {
		t.Errorf("Healthy after Close = %v, want ErrClosed", err)
	}
	// Close signed a final checkpoint.
	msg, err := os.ReadFile(filepath.Join(dir, latestName))
	if err != nil {
		t.Fatal(err)
	}
	if tree := checkCheckpoint(t, msg, l.VerifierKey(), l.Origin()); tree.N != 1 {
		t.Errorf("final checkpoint size %d, want 1", tree.N)
	}
}

func TestLogCloseWritesQueuedBeforeRun(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		l, err := OpenLog(dir, LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		go func() {
			_, err := l.Append(context.Background(), testAuthz(0))
			res <- err
		}()
		synctest.Wait() // the caller is queued, waiting for a writer
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-res; err != nil {
			t.Errorf("Append queued before Close: %v", err)
		}
	})
	if got := len(readLog(t, dir)); got != 1 {
		t.Errorf("%d records, want 1", got)
	}
}
