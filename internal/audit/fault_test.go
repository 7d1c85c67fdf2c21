package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var errInjected = errors.New("injected fault")

// faults decides which file operations fail. It is shared by every
// faultFile of one log.
type faults struct {
	mu   sync.Mutex
	file string // "segments" or "hashes": which file fails
	op   string // "write" or "sync"
}

func (f *faults) set(file, op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.file, f.op = file, op
}

func (f *faults) fails(path, op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Match the file's own name or its directory's ("segments"), not the
	// whole path: a test's temporary directory may contain either word.
	return f.op == op && f.file != "" &&
		(filepath.Base(path) == f.file || filepath.Base(filepath.Dir(path)) == f.file)
}

// faultFile is a file whose writes and syncs fail on demand. A failing
// write still writes half its bytes, as a full disk or a crash can.
type faultFile struct {
	*os.File
	faults *faults
}

func (f faultFile) Write(p []byte) (int, error) {
	if f.faults.fails(f.Name(), "write") {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errInjected
	}
	return f.File.Write(p)
}

func (f faultFile) Sync() error {
	if f.faults.fails(f.Name(), "sync") {
		return errInjected
	}
	return f.File.Sync()
}

func TestLogFailClosed(t *testing.T) {
	tests := []struct{ file, op string }{
		{"segments", "write"},
		{"segments", "sync"},
		{"hashes", "write"},
		{"hashes", "sync"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.op, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faults{}
			opts := LogOptions{SyncFile: func(f *os.File) WriteSyncer { return faultFile{f, fs} }}
			l, stop := startLog(t, dir, opts)
			for i := range 3 {
				if _, err := l.Append(t.Context(), testAuthz(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Healthy(); err != nil {
				t.Fatalf("Healthy before the fault: %v", err)
			}

			fs.set(tt.file, tt.op)
			if tt.file == "hashes" && tt.op == "sync" {
				// Stored hashes are synced only before a checkpoint is
				// signed over them (recovery rebuilds the rest), so the
				// fault shows at the next signing, which fails the log.
				if _, err := l.Append(t.Context(), testAuthz(9)); err != nil {
					t.Fatalf("Append with unsynced hashes: %v", err)
				}
				if err := l.SignNow(t.Context()); !errors.Is(err, errInjected) {
					t.Fatalf("SignNow during a hashes sync fault = %v, want the injected fault", err)
				}
				if _, err := l.Append(t.Context(), testAuthz(10)); !errors.Is(err, ErrFailed) {
					t.Fatalf("Append after the failed signing = %v, want ErrFailed", err)
				}
				fs.set("", "")
				waitHealthy(t, l)
				stop()
				checkLogVerifies(t, dir, l)
				return
			}
			// Every caller of the failing batch gets an error.
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					if _, err := l.Append(t.Context(), testAuthz(10+i)); !errors.Is(err, ErrFailed) || !errors.Is(err, errInjected) {
						t.Errorf("Append during the fault: %v, want ErrFailed wrapping the injected fault", err)
					}
				})
			}
			wg.Wait()
			if err := l.Healthy(); !errors.Is(err, ErrFailed) {
				t.Errorf("Healthy after the fault = %v, want ErrFailed", err)
			}

			if got := l.Size(); got != 3 {
				t.Errorf("Size = %d, want the 3 records durable before the fault", got)
			}
			// The fault is gone. The log does not pretend the failed sync
			// never happened: it recovers from what is on disk, as after a
			// crash, within about a second, and records again.
			fs.set("", "")
			waitHealthy(t, l)
			// Exactly the acknowledged records: the failed batch's lines,
			// written or not, are cut, never adopted.
			durable := l.Size()
			if durable != 3 {
				t.Fatalf("Size after recovering = %d, want the 3 acknowledged records", durable)
			}
			if idx, err := l.Append(t.Context(), testAuthz(20)); err != nil || idx != durable {
				t.Fatalf("Append after recovering = %d, %v; want %d", idx, err, durable)
			}
			stop()
			checkLogVerifies(t, dir, l)

			// Reopening recovers what reached the disk; the log verifies.
			l, stop = startLog(t, dir, LogOptions{})
			before := l.Size()
			if before < 3 {
				t.Fatalf("Size after reopening = %d, lost acknowledged records", before)
			}
			if idx, err := l.Append(t.Context(), testAuthz(30)); err != nil || idx != before {
				t.Fatalf("Append after reopening = %d, %v", idx, err)
			}
			stop()
			checkLogVerifies(t, dir, l)
		})
	}
}

func TestLogCheckpointWriteFailureFailsLog(t *testing.T) {
	dir := t.TempDir()
	l, _ := startLog(t, dir, LogOptions{})
	if _, err := l.Append(t.Context(), testAuthz(0)); err != nil {
		t.Fatal(err)
	}
	// A checkpoint file that already exists must never be replaced.
	if err := os.WriteFile(filepath.Join(dir, "checkpoints", checkpointName(1)), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.SignNow(t.Context()); err == nil {
		t.Fatal("SignNow replaced an existing checkpoint")
	}
	if err := l.Healthy(); !errors.Is(err, ErrFailed) {
		t.Errorf("Healthy = %v, want ErrFailed", err)
	}
	os.Remove(filepath.Join(dir, "checkpoints", checkpointName(1)))
}

// TestAppendDeadline checks that Append returns the context's error when
// its deadline passes first, and that the record may still be written.
func TestAppendDeadline(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		l, err := OpenLog(dir, LogOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Not running yet: the record waits for the writer.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := l.Append(ctx, testAuthz(0)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Append = %v, want DeadlineExceeded", err)
		}
		cancelled, cancel2 := context.WithCancel(t.Context())
		cancel2()
		if _, err := l.Append(cancelled, testAuthz(1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Append with a cancelled context = %v, want Canceled", err)
		}

		runCtx, stop := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(runCtx) }()
		synctest.Wait()
		if got := l.Size(); got != 1 {
			t.Errorf("Size = %d: the timed-out record should still be written (a cancelled one never queued)", got)
		}
		stop()
		<-done
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// waitHealthy waits until the log has recovered from a failure.
func waitHealthy(t *testing.T, l *Log) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(15 * time.Second)
	for l.Healthy() != nil {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("log did not recover: %v", l.Healthy())
		}
	}
}
