package auditindex

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testLog is a fake audit log: record lines in order, position = index.
// reads counts the lines read, so tests can see what a catch-up re-read.
type testLog struct {
	lines [][]byte
	reads int
}

func (l *testLog) read(from int64, fn func(line []byte) error) error {
	for i := from; i < int64(len(l.lines)); i++ {
		l.reads++
		if err := fn(l.lines[i]); err != nil {
			return err
		}
	}
	return nil
}

var t0 = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// add appends a record with the given event and fields, one second after
// the previous one.
func (l *testLog) add(event, fields string) {
	idx := len(l.lines)
	ts := t0.Add(time.Duration(idx) * time.Second).Format("2006-01-02T15:04:05.000Z")
	l.lines = append(l.lines, fmt.Appendf(nil, `{"v":1,"idx":%d,"ts":%q,"event":%q%s}`, idx, ts, event, fields))
}

// newTestLog returns a log of ten records:
//
//	0 key.create target=k1     5 authz k2 bob deny chat
//	1 authz k1 alice allow chat    6 usage k2
//	2 usage k1                 7 key.revoke target=k1
//	3 authz k1 alice deny embed    8 authz k1 alice allow chat
//	4 key.create target=k2     9 usage k1
func newTestLog() *testLog {
	l := &testLog{}
	l.add("key.create", `,"actor":"admin","target":"k1"`)
	l.add("authz", `,"key":"k1","principal":"alice","feature":"chat","decision":"allow"`)
	l.add("usage", `,"key":"k1","status":200`)
	l.add("authz", `,"key":"k1","principal":"alice","feature":"embed","decision":"deny"`)
	l.add("key.create", `,"actor":"admin","target":"k2"`)
	l.add("authz", `,"key":"k2","principal":"bob","feature":"chat","decision":"deny"`)
	l.add("usage", `,"key":"k2","status":403`)
	l.add("key.revoke", `,"actor":"admin","target":"k1"`)
	l.add("authz", `,"key":"k1","principal":"alice","feature":"chat","decision":"allow"`)
	l.add("usage", `,"key":"k1","status":200`)
	return l
}

// openTestIndex opens an index in a temporary directory and closes it at
// the end of the test.
func openTestIndex(t *testing.T, path string) *Index {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "index.db")
	}
	ix, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// all returns every position matching f, following next from page to page.
func all(t *testing.T, ix *Index, f Filter) []int64 {
	t.Helper()
	var got []int64
	for range 100 {
		idxs, next, err := ix.Query(t.Context(), f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		got = append(got, idxs...)
		if next < 0 {
			return got
		}
		f.After = next
	}
	t.Fatalf("Query(%+v): more than 100 pages", f)
	return nil
}

func TestQuery(t *testing.T) {
	ix := openTestIndex(t, "")
	l := newTestLog()
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	tests := []struct {
		name string
		f    Filter
		want []int64
	}{
		{"All", Filter{}, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"Key", Filter{Key: "k1"}, []int64{0, 1, 2, 3, 7, 8, 9}},
		{"Principal", Filter{Principal: "bob"}, []int64{5}},
		{"Event", Filter{Event: "usage"}, []int64{2, 6, 9}},
		{"Decision", Filter{Decision: "deny"}, []int64{3, 5}},
		{"Feature", Filter{Feature: "chat"}, []int64{1, 5, 8}},
		{"Since", Filter{Since: t0.Add(7 * time.Second)}, []int64{7, 8, 9}},
		{"Until", Filter{Until: t0.Add(2 * time.Second)}, []int64{0, 1}},
		{"SinceUntilSubMillisecond", Filter{Since: t0.Add(2*time.Second - time.Microsecond), Until: t0.Add(4*time.Second + time.Microsecond)}, []int64{2, 3, 4}},
		{"SinceOtherZone", Filter{Since: t0.Add(8 * time.Second).In(time.FixedZone("X", 3600))}, []int64{8, 9}},
		{"After", Filter{After: 6}, []int64{6, 7, 8, 9}},
		{"Combined", Filter{Key: "k1", Event: "authz", Decision: "allow", Since: t0.Add(time.Second)}, []int64{1, 8}},
		{"None", Filter{Principal: "carol"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 3, 100} {
				f := tt.f
				f.Limit = limit
				if diff := cmp.Diff(tt.want, all(t, ix, f)); diff != "" {
					t.Errorf("Query(%+v) pages (-want +got):\n%s", f, diff)
				}
			}
		})
	}
}

func TestQueryPage(t *testing.T) {
	ix := openTestIndex(t, "")
	l := newTestLog()
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	tests := []struct {
		name     string
		f        Filter
		want     []int64
		wantNext int64
	}{
		{"FirstPage", Filter{Key: "k1", Limit: 3}, []int64{0, 1, 2}, 3},
		{"NextPage", Filter{Key: "k1", After: 3, Limit: 3}, []int64{3, 7, 8}, 9},
		{"LastPageFull", Filter{Key: "k1", After: 8, Limit: 2}, []int64{8, 9}, -1},
		{"PastEnd", Filter{After: 10, Limit: 5}, nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := ix.Query(t.Context(), tt.f)
			if err != nil {
				t.Fatalf("Query(%+v): %v", tt.f, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || next != tt.wantNext {
				t.Errorf("Query(%+v) = %v, next %d, want %v, next %d", tt.f, got, next, tt.want, tt.wantNext)
			}
		})
	}
	if _, _, err := ix.Query(t.Context(), Filter{}); err == nil {
		t.Errorf("Query with Limit 0: no error")
	}
}

func TestCatchUpIncremental(t *testing.T) {
	ix := openTestIndex(t, "")
	full := newTestLog()
	l := &testLog{lines: full.lines[:4]}
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if got, want := all(t, ix, Filter{Key: "k1", Limit: 10}), []int64{0, 1, 2, 3}; !cmp.Equal(got, want) {
		t.Errorf("after 4 records: Key k1 = %v, want %v", got, want)
	}
	l.lines, l.reads = full.lines, 0
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	// The last indexed record is read again to check the log still holds
	// it, then the six new ones.
	if l.reads != 7 {
		t.Errorf("second CatchUp read %d lines, want 7", l.reads)
	}
	if got, want := all(t, ix, Filter{Key: "k1", Limit: 10}), []int64{0, 1, 2, 3, 7, 8, 9}; !cmp.Equal(got, want) {
		t.Errorf("after 10 records: Key k1 = %v, want %v", got, want)
	}
	l.reads = 0
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	if l.reads != 1 {
		t.Errorf("CatchUp with nothing new read %d lines, want 1", l.reads)
	}
}

func TestCatchUpKeepsProgressAcrossOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	l := newTestLog()
	ix, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	ix = openTestIndex(t, path)
	l.reads = 0
	if err := ix.CatchUp(t.Context(), l.read); err != nil {
		t.Fatal(err)
	}
	if l.reads != 1 {
		t.Errorf("CatchUp after reopening read %d lines, want 1", l.reads)
	}
}

func TestCatchUpErrors(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
	}{
		{"NotJSON", []string{`{"v":1,"idx":0,"ts":"2026-11-28T10:00:00.000Z","event":"usage"}`, `not json`}},
		{"Gap", []string{`{"v":1,"idx":0,"ts":"2026-11-28T10:00:00.000Z","event":"usage"}`, `{"v":1,"idx":2,"ts":"2026-11-28T10:00:00.000Z","event":"usage"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := openTestIndex(t, "")
			l := &testLog{}
			for _, s := range tt.lines {
				l.lines = append(l.lines, []byte(s))
			}
			if err := ix.CatchUp(t.Context(), l.read); err == nil {
				t.Errorf("CatchUp: no error")
			}
		})
	}
	t.Run("ReadError", func(t *testing.T) {
		ix := openTestIndex(t, "")
		errRead := errors.New("disk on fire")
		err := ix.CatchUp(t.Context(), func(int64, func([]byte) error) error { return errRead })
		if !errors.Is(err, errRead) {
			t.Errorf("CatchUp = %v, want %v", err, errRead)
		}
	})
}

func TestRebuild(t *testing.T) {
	t.Run("CorruptFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "index.db")
		if err := os.WriteFile(path, []byte("this is not an SQLite database, not even close; it is garbage text"), 0o600); err != nil {
			t.Fatal(err)
		}
		ix := openTestIndex(t, path)
		l := newTestLog()
		if err := ix.CatchUp(t.Context(), l.read); err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
		if got, want := all(t, ix, Filter{Event: "usage", Limit: 10}), []int64{2, 6, 9}; !cmp.Equal(got, want) {
			t.Errorf("Event usage = %v, want %v", got, want)
		}
	})
	t.Run("OtherSchemaVersion", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "index.db")
		ix := openTestIndex(t, path)
		if _, err := ix.db.ExecContext(t.Context(), "PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		ix.Close()
		ix = openTestIndex(t, path)
		if err := ix.CatchUp(t.Context(), newTestLog().read); err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
	})
	t.Run("LogShorter", func(t *testing.T) {
		ix := openTestIndex(t, "")
		if err := ix.CatchUp(t.Context(), newTestLog().read); err != nil {
			t.Fatal(err)
		}
		// The log is replaced by a shorter one with other records.
		l := &testLog{}
		l.add("authz", `,"key":"k9","principal":"zed","decision":"allow"`)
		l.add("usage", `,"key":"k9"`)
		if err := ix.CatchUp(t.Context(), l.read); err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
		if got, want := all(t, ix, Filter{Limit: 100}), []int64{0, 1}; !cmp.Equal(got, want) {
			t.Errorf("All = %v, want %v", got, want)
		}
		if got, want := all(t, ix, Filter{Key: "k9", Limit: 100}), []int64{0, 1}; !cmp.Equal(got, want) {
			t.Errorf("Key k9 = %v, want %v", got, want)
		}
	})
	t.Run("LogReplacedSameLength", func(t *testing.T) {
		ix := openTestIndex(t, "")
		if err := ix.CatchUp(t.Context(), newTestLog().read); err != nil {
			t.Fatal(err)
		}
		// Another log of the same length whose records have other times.
		l := newTestLog()
		l.lines[9] = []byte(`{"v":1,"idx":9,"ts":"2027-01-01T00:00:00.000Z","event":"usage","key":"k7"}`)
		if err := ix.CatchUp(t.Context(), l.read); err != nil {
			t.Fatalf("CatchUp: %v", err)
		}
		if got, want := all(t, ix, Filter{Key: "k7", Limit: 100}), []int64{9}; !cmp.Equal(got, want) {
			t.Errorf("Key k7 = %v, want %v", got, want)
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "index.db")
		ix := openTestIndex(t, path)
		l := newTestLog()
		if err := ix.CatchUp(t.Context(), l.read); err != nil {
			t.Fatal(err)
		}
		ix.Close()
		if err := remove(path); err != nil {
			t.Fatal(err)
		}
		ix = openTestIndex(t, path)
		if err := ix.CatchUp(t.Context(), l.read); err != nil {
			t.Fatal(err)
		}
		if got := all(t, ix, Filter{Limit: 100}); len(got) != 10 {
			t.Errorf("after rebuild: %d records, want 10", len(got))
		}
	})
}

func TestOpenMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	openTestIndex(t, path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("index file mode = %o, want 600", mode)
	}
}
