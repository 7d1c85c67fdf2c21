package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestSignerInterval checks that checkpoints are signed only when the log
// grew and the interval passed, in fake time.
func TestSignerInterval(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		const interval = 5 * time.Second
		l, err := OpenLog(dir, LogOptions{CheckpointInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()
		signedSize := func() uint64 {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.signed.size
		}
		advance := func(d time.Duration) {
			time.Sleep(d) // fake time: the bubble's clock jumps
			synctest.Wait()
		}

		advance(interval)
		if got := signedSize(); got != 0 {
			t.Fatalf("signed %d records of an empty log", got)
		}
		for i := range 3 {
			if _, err := l.Append(ctx, testAuthz(i)); err != nil {
				t.Fatal(err)
			}
		}
		advance(interval - time.Millisecond)
		if got := signedSize(); got != 0 {
			t.Errorf("signed size %d before the interval passed", got)
		}
		advance(time.Millisecond)
		if got := signedSize(); got != 3 {
			t.Errorf("signed size %d after the interval, want 3", got)
		}
		advance(3 * interval) // no growth, no new checkpoint
		if n := countCheckpoints(t, dir); n != 1 {
			t.Errorf("%d checkpoint files after idle ticks, want 1", n)
		}
		if _, err := l.Append(ctx, testAuthz(3)); err != nil {
			t.Fatal(err)
		}
		advance(interval)
		if got := signedSize(); got != 4 {
			t.Errorf("signed size %d, want 4", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func countCheckpoints(tb testing.TB, dir string) int {
	tb.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "checkpoints"))
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if _, ok := parseCheckpointName(e.Name()); ok {
			n++
		}
	}
	return n
}

func TestKeys(t *testing.T) {
	t.Run("ExistingKeyKeepsOrigin", func(t *testing.T) {
		dir := t.TempDir()
		l, stop := startLog(t, dir, LogOptions{Origin: "example.com/gw/audit"})
		origin, vkey := l.Origin(), l.VerifierKey()
		stop()
		if origin != "example.com/gw/audit" {
			t.Errorf("Origin = %q", origin)
		}
		l, _ = startLog(t, dir, LogOptions{})
		if l.Origin() != origin || l.VerifierKey() != vkey {
			t.Errorf("reopened log has origin %q key %q, want %q %q", l.Origin(), l.VerifierKey(), origin, vkey)
		}
	})
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		opts  LogOptions
	}{
		{"SigningKeyGroupReadable", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, signingKeyName), 0o640); err != nil {
				t.Fatal(err)
			}
		}, LogOptions{}},
		{"SigningKeyMissingWithCheckpoints", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, signingKeyName)); err != nil {
				t.Fatal(err)
			}
		}, LogOptions{}},
		{"VerifierKeyMissing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, verifierKeyName)); err != nil {
				t.Fatal(err)
			}
		}, LogOptions{}},
		{"KeysNotAPair", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := loadKeys(other, ""); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(other, verifierKeyName))
			if err := os.WriteFile(filepath.Join(dir, verifierKeyName), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, LogOptions{}},
		{"OtherOrigin", func(t *testing.T, dir string) {}, LogOptions{Origin: "other/audit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, stop := startLog(t, dir, LogOptions{})
			if _, err := l.Append(t.Context(), testAuthz(0)); err != nil {
				t.Fatal(err)
			}
			stop() // signs a checkpoint
			tt.setup(t, dir)
			if l, err := OpenLog(dir, tt.opts); err == nil {
				l.Close()
				t.Fatal("OpenLog succeeded")
			} else {
				t.Log(err)
			}
		})
	}
}
