package auditverify

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The standard test log: 100 records in segments of 16, checkpoints at
// these sizes, the last 10 records not yet covered by one.
var testCheckpoints = []int64{0, 10, 25, 40, 64, 80, 90}

const testRecords = 100

func TestVerifyClean(t *testing.T) {
	l := buildTestLog(t, testRecords, testCheckpoints...)
	got, err := Verify(t.Context(), l.dir, l.vkey, VerifyOptions{Prev: l.read("checkpoints/000000000040.note")})
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Records: 100, CheckpointSize: 90, Origin: testOrigin, Uncovered: 10, CheckpointsChecked: len(testCheckpoints)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

func TestVerifyDataDir(t *testing.T) {
	// The gateway's data directory holds the log in audit/.
	data := t.TempDir()
	l := newTestLog(t, filepath.Join(data, "audit"), 16)
	l.fill(30, 20)
	got, err := Verify(t.Context(), data, l.vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != 30 || got.CheckpointSize != 20 {
		t.Errorf("report = %+v, want 30 records, checkpoint 20", got)
	}
}

func TestVerifyTornTail(t *testing.T) {
	// A write in progress, or torn by a crash: not a record yet.
	l := buildTestLog(t, testRecords, testCheckpoints...)
	l.appendFile("segments/000000000096.jsonl", []byte(`{"v":1,"idx":100,"ts":"2026`))
	got, err := Verify(t.Context(), l.dir, l.vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != 100 {
		t.Errorf("records = %d, want 100", got.Records)
	}
}

// tamperCase is a change to a clean log and the error Verify must give.
type tamperCase struct {
	name   string
	tamper func(t *testing.T, l *testLog)
	prev   func(l *testLog) []byte
	// want is the exact error, or, when reasonPrefix is set, its Position
	// and the start of its Reason (which names keys).
	want         VerifyError
	reasonPrefix bool
}

// editRecord returns a tamper that replaces old by new in record pos.
func editRecord(pos int, old, new string) func(*testing.T, *testLog) {
	return func(t *testing.T, l *testLog) {
		l.rewriteRecords(func(lines [][]byte) [][]byte {
			lines[pos] = replaceIn(t, lines[pos], old, new)
			return lines
		})
	}
}

// editByte returns a tamper that adds 1 to one byte of a key id (which
// every test event holds), keeping the line valid JSON.
func editByte(pos int) func(*testing.T, *testLog) {
	return editRecord(pos, `"AbC`, `"AbD`)
}

func TestVerifyTamper(t *testing.T) {
	tests := []tamperCase{
		{name: "edit first record", tamper: editByte(0),
			want: VerifyError{0, "record 0 does not match the checkpoint (tree root differs at size 10)"}},
		{name: "edit record", tamper: editByte(16),
			want: VerifyError{16, "record 16 does not match the checkpoint (tree root differs at size 25)"}},
		{name: "edit record on a checkpoint boundary", tamper: editByte(24),
			want: VerifyError{24, "record 24 does not match the checkpoint (tree root differs at size 25)"}},
		{name: "edit last covered record", tamper: editByte(89),
			want: VerifyError{89, "record 89 does not match the checkpoint (tree root differs at size 90)"}},
		{name: "edit record without hashes", tamper: func(t *testing.T, l *testLog) {
			editByte(16)(t, l)
			removeFile(t, l, hashesFile)
		}, want: VerifyError{10, "a record in 10–24 does not match the checkpoint (tree root differs at size 25; records 0–9 match)"}},
		{name: "edit record and rewrite hashes to match", tamper: func(t *testing.T, l *testLog) {
			editByte(16)(t, l)
			forged := newTestLog(t, t.TempDir(), 16)
			for _, line := range readRecords(t, l) {
				forged.appendLine(line)
			}
			l.write(hashesFile, forged.read(hashesFile))
		}, want: VerifyError{10, "a record in 10–24 does not match the checkpoint (tree root differs at size 25; records 0–9 match)"}},
		{name: "edit event name", tamper: editRecord(33, `"event":"authz"`, `"event":"authy"`),
			want: VerifyError{33, "record 33 does not match the checkpoint (tree root differs at size 40)"}},
		{name: "edit idx", tamper: editRecord(33, `"idx":33`, `"idx":34`),
			want: VerifyError{33, "record 33: idx is 34"}},
		{name: "break json", tamper: editRecord(49, `"ok"}`, `"ok"]`),
			want: VerifyError{49, "record 49: not one compact JSON object"}},
		{name: "add whitespace", tamper: editRecord(49, `"status":200`, `"status": 200`),
			want: VerifyError{49, "record 49: not one compact JSON object"}},
		{name: "change version", tamper: editRecord(50, `{"v":1,`, `{"v":2,`),
			want: VerifyError{50, `record 50: does not start with {"v":1,"idx":`}},
		{name: "delete record", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return slices.Delete(lines, 17, 18) })
		}, want: VerifyError{17, "record 17: idx is 18"}},
		{name: "delete first record", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[1:] })
		}, want: VerifyError{0, "record 0: idx is 1"}},
		{name: "delete segment", tamper: func(t *testing.T, l *testLog) {
			removeFile(t, l, "segments/000000000032.jsonl")
		}, want: VerifyError{32, "record 32: idx is 48"}},
		{name: "swap records", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte {
				lines[20], lines[21] = lines[21], lines[20]
				return lines
			})
		}, want: VerifyError{20, "record 20: idx is 21"}},
		{name: "insert record", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return slices.Insert(lines, 5, testLine(5, "forged")) })
		}, want: VerifyError{6, "record 6: idx is 5"}},
		{name: "truncate below the latest checkpoint", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[:35] })
		}, want: VerifyError{35, "log has 35 records but checkpoint 90 was signed: records 35–89 are missing (truncated)"}},
		{name: "truncate one covered record", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[:89] })
		}, want: VerifyError{89, "log has 89 records but checkpoint 90 was signed: record 89 is missing (truncated)"}},
		{name: "truncate everything", tamper: func(t *testing.T, l *testLog) {
			removeFile(t, l, segmentsDir)
		}, want: VerifyError{0, "log has 0 records but checkpoint 90 was signed: records 0–89 are missing (truncated)"}},
		{name: "truncate and roll the checkpoints back", tamper: func(t *testing.T, l *testLog) {
			l.rewriteRecords(func(lines [][]byte) [][]byte { return lines[:35] })
			l.write(latestFile, l.read("checkpoints/000000000025.note"))
			for _, size := range []string{"40", "64", "80", "90"} {
				removeFile(t, l, "checkpoints/0000000000"+size+".note")
			}
		}, prev: func(l *testLog) []byte { return l.read(latestFile) },
			want: VerifyError{-1, "previous checkpoint (size 90) is newer than the latest (size 25): the log was rolled back"}},
		{name: "rewrite history with a fresh key", tamper: func(t *testing.T, l *testLog) {
			removeFile(t, l, "")
			forged := newTestLog(t, l.dir, 16)
			forged.seed = "forged-"
			forged.fill(testRecords, testCheckpoints...)
		}, reasonPrefix: true, want: VerifyError{-1, "checkpoint not signed by the trusted key " + testOrigin + "+"}},
		{name: "rewrite history with the same key", tamper: func(t *testing.T, l *testLog) {
			removeFile(t, l, "")
			forged := newTestLogWithKey(t, l.dir, 16, l.skey, l.vkey)
			forged.seed = "forged-"
			forged.fill(testRecords, testCheckpoints...)
		}, prev: func(l *testLog) []byte { return l.read("checkpoints/000000000040.note") },
			want: VerifyError{-1, "previous checkpoint (size 40) is not consistent with the latest (size 90): history was rewritten"}},
		{name: "edit checkpoint", tamper: func(t *testing.T, l *testLog) {
			l.write(latestFile, replaceIn(t, l.read(latestFile), "\n90\n", "\n91\n"))
		}, reasonPrefix: true, want: VerifyError{-1, "checkpoint signature invalid (key " + testOrigin + "+"}},
		{name: "edit stored checkpoint", tamper: func(t *testing.T, l *testLog) {
			name := "checkpoints/000000000040.note"
			b := l.read(name)
			b[len(testOrigin)+5] ^= 1 // a character of the root hash
			l.write(name, b)
		}, reasonPrefix: true, want: VerifyError{-1, "checkpoints/000000000040.note: checkpoint signature invalid (key "}},
		{name: "stored checkpoint renamed", tamper: func(t *testing.T, l *testLog) {
			l.write("checkpoints/000000000041.note", l.read("checkpoints/000000000040.note"))
		}, want: VerifyError{-1, "checkpoints/000000000041.note: holds a checkpoint of size 40"}},
		{name: "empty checkpoint with a root", tamper: func(t *testing.T, l *testLog) {
			l.write("checkpoints/000000000000.note", l.sign(testOrigin, 0, l.root(1)))
		}, want: VerifyError{-1, "checkpoints/000000000000.note: a checkpoint of size 0 with a root other than the empty tree's"}},
		{name: "checkpoint removed", tamper: func(t *testing.T, l *testLog) {
			removeFile(t, l, latestFile)
		}, reasonPrefix: true, want: VerifyError{-1, "no signed checkpoint to verify against: "}},
		{name: "previous checkpoint forged", tamper: func(*testing.T, *testLog) {},
			prev: func(l *testLog) []byte {
				return []byte(strings.Replace(string(l.read("checkpoints/000000000040.note")), "\n40\n", "\n41\n", 1))
			}, reasonPrefix: true, want: VerifyError{-1, "previous checkpoint: checkpoint signature invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := buildTestLog(t, testRecords, testCheckpoints...)
			var opts VerifyOptions
			if tt.prev != nil {
				opts.Prev = tt.prev(l)
			}
			tt.tamper(t, l)
			_, err := Verify(t.Context(), l.dir, l.vkey, opts)
			checkVerifyError(t, err, tt.want, tt.reasonPrefix)
		})
	}
}

func TestVerifyLongRecord(t *testing.T) {
	// Longer than the read buffer: read whole, hashed whole.
	l := newTestLog(t, t.TempDir(), 16)
	l.appendN(3)
	l.appendLine([]byte(`{"v":1,"idx":3,"ts":"2026-11-28T10:00:00.003Z","event":"big","pad":"` + strings.Repeat("x", 3<<20) + `"}`))
	l.appendN(2)
	l.checkpoint()
	if _, err := Verify(t.Context(), l.dir, l.vkey, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	l.rewriteRecords(func(lines [][]byte) [][]byte {
		lines[3] = replaceIn(t, lines[3], "xxx\"", "xxy\"")
		return lines
	})
	_, err := Verify(t.Context(), l.dir, l.vkey, VerifyOptions{})
	checkVerifyError(t, err, VerifyError{3, "record 3 does not match the checkpoint (tree root differs at size 6)"}, false)
}

func TestVerifyUncoveredEditIsNotDetected(t *testing.T) {
	// What verification cannot prove: records after the last checkpoint
	// are checked for form only.
	l := buildTestLog(t, testRecords, testCheckpoints...)
	editByte(99)(t, l)
	if _, err := Verify(t.Context(), l.dir, l.vkey, VerifyOptions{}); err != nil {
		t.Fatalf("Verify = %v, want success: record 99 is not covered by a checkpoint", err)
	}
}

func TestVerifyWrongKey(t *testing.T) {
	l := buildTestLog(t, 20, 10)
	other := newTestLog(t, t.TempDir(), 16)
	_, err := Verify(t.Context(), l.dir, other.vkey, VerifyOptions{})
	if !strings.Contains(err.Error(), ErrUnknownKey.Error()) {
		t.Errorf("Verify with another key = %v, want %q", err, ErrUnknownKey)
	}
	_, err = Verify(t.Context(), l.dir, "not a key", VerifyOptions{})
	if !errors.Is(err, ErrVerifierKey) {
		t.Errorf("Verify with a bad key = %v, want ErrVerifierKey", err)
	}
}

func TestVerifyCanceled(t *testing.T) {
	l := buildTestLog(t, 20, 10)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Verify(ctx, l.dir, l.vkey, VerifyOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify = %v, want context.Canceled", err)
	}
}

// checkVerifyError checks that err is a *VerifyError like want; with
// prefix, Reason need only start with want.Reason.
func checkVerifyError(t *testing.T, err error, want VerifyError, prefix bool) {
	t.Helper()
	ve, ok := errors.AsType[*VerifyError](err)
	if !ok {
		t.Fatalf("Verify = %v, want a *VerifyError", err)
	}
	got := *ve
	if prefix && strings.HasPrefix(got.Reason, want.Reason) {
		got.Reason = want.Reason
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify error (-want +got):\n%s", diff)
	}
}

// readRecords returns the record lines on disk.
func readRecords(t *testing.T, l *testLog) [][]byte {
	t.Helper()
	var lines [][]byte
	l.rewriteRecords(func(ls [][]byte) [][]byte {
		lines = slices.Clone(ls)
		return ls
	})
	return lines
}

// removeFile removes a file or directory of the log, or, for "", all.
func removeFile(t *testing.T, l *testLog, name string) {
	t.Helper()
	path := filepath.Join(l.dir, name)
	if name == "" {
		entries, _ := os.ReadDir(l.dir)
		for _, e := range entries {
			removeFile(t, l, e.Name())
		}
		return
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}
