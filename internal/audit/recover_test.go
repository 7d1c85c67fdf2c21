package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"
)

// crashedLog leaves a log in dir as a crash would: n records, a checkpoint
// signed over the first signAt of them (none if 0), and no final
// checkpoint.
func crashedLog(tb testing.TB, dir string, opts LogOptions, n, signAt int) {
	tb.Helper()
	l, err := OpenLog(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	for i := range n {
		if i == signAt && signAt > 0 {
			if err := l.SignNow(ctx); err != nil {
				tb.Fatal(err)
			}
		}
		if _, err := l.Append(ctx, testAuthz(i)); err != nil {
			tb.Fatal(err)
		}
	}
	if signAt == n && n > 0 {
		if err := l.SignNow(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	cancel()
	<-done
	if err := l.closeFiles(); err != nil { // no Close: it would sign
		tb.Fatal(err)
	}
}

// checkLogVerifies checks that the records in dir decode in order and that
// the latest checkpoint verifies and is the root of all of them.
func checkLogVerifies(tb testing.TB, dir string, l *Log) []Record {
	tb.Helper()
	records := readLog(tb, dir)
	msg, err := os.ReadFile(filepath.Join(dir, latestName))
	if err != nil {
		tb.Fatal(err)
	}
	tree := checkCheckpoint(tb, msg, l.VerifierKey(), l.Origin())
	if tree.N != int64(len(records)) {
		tb.Fatalf("checkpoint size %d, %d records", tree.N, len(records))
	}
	if want, _ := tlog.TreeHash(tree.N, treeOf(tb, readLines(tb, dir))); tree.Hash != want {
		tb.Fatalf("checkpoint root %v, records give %v", tree.Hash, want)
	}
	return records
}

func appendFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

func TestRecoverSegmentTail(t *testing.T) {
	line5, err := Encode(5, testTime, testAuthz(5))
	if err != nil {
		t.Fatal(err)
	}
	line6, _ := Encode(6, testTime, testAuthz(6))
	tests := []struct {
		name        string
		tail        []byte
		hashesTail  []byte
		wantRecords uint64
	}{
		{"TornLine", line5[:30], nil, 5},
		{"TornLineWithItsHashes", line5[:len(line5)-1], bytes.Repeat([]byte{7}, 64), 5},
		{"TornHash", nil, []byte{1, 2, 3}, 5},
		{"Zeros", make([]byte, 4096), nil, 5},
		{"ZerosThenNewline", append(make([]byte, 100), '\n'), nil, 5},
		{"GarbageThenValidLine", append([]byte("not json\n"), append(line6, '\n')...), nil, 5},
		{"CompleteUnacknowledgedRecord", append(line5, '\n'), nil, 6},
		{"CompleteRecordThenTorn", append(append(line5, '\n'), line6[:10]...), nil, 6},
		{"ZeroedMiddleOfLine", append(bytes.Replace(line5, []byte("alice"), []byte("\x00\x00\x00\x00\x00"), 1), '\n'), nil, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			crashedLog(t, dir, LogOptions{}, 5, 5)
			appendFile(t, filepath.Join(dir, "segments", segmentName(0)), tt.tail)
			appendFile(t, filepath.Join(dir, "hashes"), tt.hashesTail)

			l, stop := startLog(t, dir, LogOptions{})
			if got := l.Size(); got != tt.wantRecords {
				t.Fatalf("Size after recovery = %d, want %d", got, tt.wantRecords)
			}
			idx, err := l.Append(t.Context(), testAuthz(99))
			if err != nil || idx != tt.wantRecords {
				t.Fatalf("Append = %d, %v; want %d", idx, err, tt.wantRecords)
			}
			stop()
			checkLogVerifies(t, dir, l)
		})
	}
}

// TestRecoverKeepsNewerEventTypes checks that recovery cuts only crash
// damage: a well-formed line of an event type this version does not know
// (written by a newer one) is a record.
func TestRecoverKeepsNewerEventTypes(t *testing.T) {
	dir := t.TempDir()
	crashedLog(t, dir, LogOptions{}, 5, 5)
	line := `{"v":1,"idx":5,"ts":"2026-11-28T10:00:00.123Z","event":"alert.spike","detector":"rate"}`
	if _, err := Decode([]byte(line)); err == nil {
		t.Fatal("Decode knows alert events now: pick another unknown type")
	}
	appendFile(t, filepath.Join(dir, "segments", segmentName(0)), []byte(line+"\n"))
	l, _ := startLog(t, dir, LogOptions{})
	if got := l.Size(); got != 6 {
		t.Errorf("Size = %d, want 6: the unknown event is a record", got)
	}
}

func TestRecoverRefusesWrongIndex(t *testing.T) {
	dir := t.TempDir()
	crashedLog(t, dir, LogOptions{}, 5, 5)
	line, _ := Encode(9, testTime, testAuthz(9))
	appendFile(t, filepath.Join(dir, "segments", segmentName(0)), append(line, '\n'))
	if l, err := OpenLog(dir, LogOptions{}); err == nil {
		l.Close()
		t.Fatal("OpenLog accepted a record with the wrong idx")
	}
}

func TestRecoverHashes(t *testing.T) {
	hashesPath := func(dir string) string { return filepath.Join(dir, "hashes") }
	overwrite := func(t *testing.T, dir string, index int64) {
		f, err := os.OpenFile(hashesPath(dir), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xab}, tlog.HashSize), index*tlog.HashSize); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		wantErr bool
	}{
		{"Missing", func(t *testing.T, dir string) {
			if err := os.Remove(hashesPath(dir)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"Empty", func(t *testing.T, dir string) {
			if err := os.Truncate(hashesPath(dir), 0); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"CutMidHash", func(t *testing.T, dir string) {
			if err := os.Truncate(hashesPath(dir), 20*tlog.HashSize+5); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"GarbageAfterCheckpoint", func(t *testing.T, dir string) {
			overwrite(t, dir, tlog.StoredHashIndex(0, 9))
		}, false},
		{"ChangedBelowCheckpoint", func(t *testing.T, dir string) {
			overwrite(t, dir, tlog.StoredHashIndex(2, 0)) // on the path of the size-6 root
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			crashedLog(t, dir, LogOptions{}, 12, 6)
			tt.damage(t, dir)
			l, err := OpenLog(dir, LogOptions{})
			if tt.wantErr {
				if err == nil {
					l.Close()
					t.Fatal("OpenLog accepted hashes that contradict the checkpoint")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil { // signs over all 12
				t.Fatal(err)
			}
			checkLogVerifies(t, dir, l)
			b, _ := os.ReadFile(hashesPath(dir))
			want := treeOf(t, readLines(t, dir))
			if int64(len(b)) != int64(len(want))*tlog.HashSize {
				t.Fatalf("hashes file has %d bytes, want %d", len(b), len(want)*tlog.HashSize)
			}
			for i, h := range want {
				if !bytes.Equal(b[i*tlog.HashSize:(i+1)*tlog.HashSize], h[:]) {
					t.Fatalf("stored hash %d differs from the records'", i)
				}
			}
		})
	}
}

func TestRecoverTruncatedBelowCheckpoint(t *testing.T) {
	tests := []struct {
		name        string
		opts        LogOptions
		cut         func(t *testing.T, dir string)
		wantRecords uint64
	}{
		{"LinesCut", LogOptions{}, func(t *testing.T, dir string) {
			path := filepath.Join(dir, "segments", segmentName(0))
			b, _ := os.ReadFile(path)
			lines := bytes.SplitAfter(b, []byte("\n"))
			if err := os.WriteFile(path, bytes.Join(lines[:7], nil), 0o600); err != nil {
				t.Fatal(err)
			}
		}, 7},
		{"SegmentRemoved", LogOptions{segmentRecords: 3}, func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "segments", segmentName(9))); err != nil {
				t.Fatal(err)
			}
		}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			crashedLog(t, dir, tt.opts, 10, 10)
			signed, err := os.ReadFile(filepath.Join(dir, latestName))
			if err != nil {
				t.Fatal(err)
			}
			tt.cut(t, dir)

			_, err = OpenLog(dir, tt.opts)
			terr, ok := errors.AsType[*TruncatedError](err)
			if !ok {
				t.Fatalf("OpenLog = %v, want a *TruncatedError", err)
			}
			if terr.Records != tt.wantRecords || terr.Signed != 10 {
				t.Errorf("TruncatedError = %+v, want Records %d Signed 10", terr, tt.wantRecords)
			}
			if !strings.Contains(err.Error(), "missing") {
				t.Errorf("error %q does not say records are missing", err)
			}

			opts := tt.opts
			opts.AllowTruncatedBelowCheckpoint = true
			l, stop := startLog(t, dir, opts)
			if got := l.Size(); got != tt.wantRecords+1 {
				t.Fatalf("Size after override = %d, want %d (the records and the override event)", got, tt.wantRecords+1)
			}
			if _, err := l.Append(t.Context(), testAuthz(100)); err != nil {
				t.Fatal(err)
			}
			stop()
			records := checkLogVerifies(t, dir, l)
			sub := fmt.Sprintf("checkpoints/superseded-%012d-1", tt.wantRecords)
			tree := checkCheckpoint(t, signed, l.VerifierKey(), l.Origin())
			want := Override{Reason: ReasonTruncated, SignedSize: 10, SignedRoot: tree.Hash.String(),
				Records: tt.wantRecords, Superseded: sub}
			if diff := cmp.Diff(Event(want), records[tt.wantRecords].Event); diff != "" {
				t.Errorf("override event (-want +got):\n%s", diff)
			}
			if moved, err := os.ReadFile(filepath.Join(dir, sub, checkpointName(10))); err != nil || !bytes.Equal(moved, signed) {
				t.Errorf("the superseded checkpoint was not kept: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, sub, latestName)); err != nil {
				t.Errorf("the latest copy was not moved aside: %v", err)
			}

			// Reopening, with or without the override, adds nothing.
			for _, allow := range []bool{false, true} {
				opts.AllowTruncatedBelowCheckpoint = allow
				l, stop := startLog(t, dir, opts)
				if got := l.Size(); got != tt.wantRecords+2 {
					t.Errorf("reopened (override %v): Size = %d, want %d", allow, got, tt.wantRecords+2)
				}
				stop()
			}
		})
	}
}

// TestRecoverOverrideInterrupted checks that an override whose checkpoints
// were moved aside, but whose event a crash lost, is recorded at the next
// open without the override flag.
func TestRecoverOverrideInterrupted(t *testing.T) {
	dir := t.TempDir()
	crashedLog(t, dir, LogOptions{}, 10, 10)
	path := filepath.Join(dir, "segments", segmentName(0))
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, bytes.Join(bytes.SplitAfter(b, []byte("\n"))[:4], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := loadKeys(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := supersede(dir, 4, keys, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}

	l, stop := startLog(t, dir, LogOptions{})
	stop()
	records := checkLogVerifies(t, dir, l)
	if len(records) != 5 {
		t.Fatalf("%d records, want 5", len(records))
	}
	if o, ok := records[4].Event.(Override); !ok || o.SignedSize != 10 || o.Records != 4 {
		t.Errorf("record 4 = %+v, want the override of a cut from 10 to 4", records[4].Event)
	}
}

// TestRecoverRefusesDamageInsideAcknowledged checks that a bad line
// followed by records of two batches (two timestamps) is not cut as a torn
// write: the later batch was written only after the bad line's batch was
// synced, so cutting would destroy acknowledged records.
func TestRecoverRefusesDamageInsideAcknowledged(t *testing.T) {
	dir := t.TempDir()
	crashedLog(t, dir, LogOptions{}, 5, 5)
	line6, err := Encode(6, testTime, testAuthz(6))
	if err != nil {
		t.Fatal(err)
	}
	line7, err := Encode(7, testTime.Add(time.Second), testAuthz(7))
	if err != nil {
		t.Fatal(err)
	}
	tail := append([]byte("damaged record 5\n"), line6...)
	tail = append(append(append(tail, '\n'), line7...), '\n')
	appendFile(t, filepath.Join(dir, "segments", segmentName(0)), tail)
	if _, err := OpenLog(dir, LogOptions{}); err == nil || !strings.Contains(err.Error(), "damaged, not torn") {
		t.Fatalf("OpenLog = %v, want a refusal naming damage", err)
	}
}
