package audit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeSink is a post func that keeps the bodies it accepted and fails while
// failing is set.
type fakeSink struct {
	mu       sync.Mutex
	failing  bool
	attempts int
	bodies   [][]byte
}

func (s *fakeSink) post(_ context.Context, note []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failing {
		return errors.New("sink unavailable")
	}
	s.bodies = append(s.bodies, bytes.Clone(note))
	return nil
}

func (s *fakeSink) setFailing(f bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = f
}

func (s *fakeSink) state() (attempts int, bodies [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts, slices.Clone(s.bodies)
}

func TestPublisher(t *testing.T) {
	logDir, pubDir := t.TempDir(), filepath.Join(t.TempDir(), "published")
	synctest.Test(t, func(t *testing.T) {
		// Only SignNow signs: the signer loop's interval is longer than the test.
		l, _ := startLog(t, logDir, LogOptions{Now: fixedClock(), CheckpointInterval: time.Hour})
		sink := &fakeSink{}
		p := NewPublisher(l, pubDir, sink.post, 10*time.Second, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		// tick waits until halfway past the next tick, and until Run is idle.
		tick := func() {
			t.Helper()
			time.Sleep(10 * time.Second)
			synctest.Wait()
		}
		appendAndSign := func(n int) []byte {
			t.Helper()
			for i := range n {
				if _, err := l.Append(t.Context(), testAuthz(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.SignNow(t.Context()); err != nil {
				t.Fatal(err)
			}
			msg, err := l.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			return msg
		}
		wantPosted := func(step string, wantAttempts int, want ...[]byte) {
			t.Helper()
			attempts, bodies := sink.state()
			if attempts != wantAttempts || len(bodies) != len(want) {
				t.Fatalf("%s: %d posts accepted of %d attempts, want %d of %d", step, len(bodies), attempts, len(want), wantAttempts)
			}
			for i := range want {
				if !bytes.Equal(bodies[i], want[i]) {
					t.Errorf("%s: post %d = %q, want %q", step, i, bodies[i], want[i])
				}
			}
		}
		wantFile := func(step, name string, want []byte) {
			t.Helper()
			path := filepath.Join(pubDir, name)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %s = %q, want %q", step, name, got, want)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s: %s mode %v (%v), want 0644", step, name, fi.Mode().Perm(), err)
			}
		}

		time.Sleep(5 * time.Second) // check halfway between ticks from now on
		tick()
		wantPosted("no checkpoint yet", 0)
		if _, err := os.Stat(pubDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("no checkpoint yet: publish directory exists (%v)", err)
		}

		first := appendAndSign(3)
		tick()
		wantPosted("first checkpoint", 1, first)
		wantFile("first checkpoint", "checkpoint", first)
		wantFile("first checkpoint", "checkpoint-000000000003.note", first)

		tick()
		wantPosted("unchanged checkpoint", 1, first)

		sink.setFailing(true)
		second := appendAndSign(2)
		tick()
		wantPosted("post failing", 2, first)
		wantFile("post failing", "checkpoint", second)
		wantFile("post failing", "checkpoint-000000000005.note", second)
		wantFile("post failing", "checkpoint-000000000003.note", first)

		tick()
		wantPosted("post still failing", 3, first)

		sink.setFailing(false)
		tick()
		wantPosted("post retried", 4, first, second)
		tick()
		wantPosted("retried checkpoint unchanged", 4, first, second)

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
}

// A directory that cannot be written is retried at the next interval, and
// does not keep the checkpoint from being posted.
func TestPublisherDirRetried(t *testing.T) {
	logDir, parent := t.TempDir(), t.TempDir()
	pubDir := filepath.Join(parent, "published")
	if err := os.WriteFile(pubDir, nil, 0o644); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		l, _ := startLog(t, logDir, LogOptions{Now: fixedClock(), CheckpointInterval: time.Hour})
		if _, err := l.Append(t.Context(), testAuthz(0)); err != nil {
			t.Fatal(err)
		}
		if err := l.SignNow(t.Context()); err != nil {
			t.Fatal(err)
		}
		sink := &fakeSink{}
		p := NewPublisher(l, pubDir, sink.post, 0, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go p.Run(ctx)

		time.Sleep(DefaultPublishInterval + DefaultPublishInterval/2)
		synctest.Wait()
		if _, bodies := sink.state(); len(bodies) != 1 {
			t.Errorf("%d checkpoints posted, want 1", len(bodies))
		}
		if err := os.Remove(pubDir); err != nil {
			t.Fatal(err)
		}
		time.Sleep(DefaultPublishInterval)
		synctest.Wait()
		if _, err := os.Stat(filepath.Join(pubDir, "checkpoint-000000000001.note")); err != nil {
			t.Errorf("after the directory could be made: %v", err)
		}
		if attempts, _ := sink.state(); attempts != 1 {
			t.Errorf("%d posts, want 1: the post had succeeded", attempts)
		}
	})
}
