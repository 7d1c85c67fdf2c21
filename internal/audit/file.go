package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// File is the interim audit log: an append-only file of events, one JSON
// line each (the format of the key-lifecycle milestone, without idx), each
// written with its own fsync. It implements apikey.Recorder and the proxy's
// Auditor. [Log] replaces it; File stays until the wiring switches over.
type File struct {
	mu  sync.Mutex
	f   *os.File
	now func() time.Time
}

var _ apikey.Recorder = (*File)(nil)

// OpenFile opens (creating if needed) the event file at path for appending.
func OpenFile(path string, now func() time.Time) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create audit directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", path, err)
	}
	if now == nil {
		now = time.Now
	}
	return &File{f: f, now: now}, nil
}

// Close syncs and closes the file.
func (l *File) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.f.Sync(), l.f.Close())
}

// Record appends c as one line and syncs it to disk before returning, so a
// change reported done is on disk.
func (l *File) Record(ctx context.Context, c apikey.Change) error {
	line, err := EncodeChange(l.now(), c)
	if err != nil {
		return err
	}
	return l.append(ctx, line)
}

// Authz appends an authz event and syncs it before returning: the proxy
// forwards nothing until this returns nil.
func (l *File) Authz(ctx context.Context, e Authz) error {
	return l.append(ctx, EncodeAuthz(l.now(), e))
}

// Usage appends a usage event without waiting for the disk: nothing
// waits on it (the call it describes is over), and the next authz or admin
// event's sync makes it durable too. A crash can lose the usage events
// written since the last sync, never a decision.
func (l *File) Usage(ctx context.Context, e Usage) error {
	return l.write(ctx, EncodeUsage(l.now(), e), false)
}

// append writes one line and syncs it, with every line written before it.
// One fsync per decision is slow under load; the audit-log milestone
// replaces this with a group-committing writer.
func (l *File) append(ctx context.Context, line []byte) error {
	return l.write(ctx, line, true)
}

func (l *File) write(ctx context.Context, line []byte, sync bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("append audit event: %w", err)
	}
	if !sync {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync audit log: %w", err)
	}
	return nil
}

// EncodeChange returns the version 1 line for an admin change, newline
// included. Fields are written in a fixed order by hand, not by
// encoding/json's struct order, because the bytes are what a later Merkle
// log hashes and must never change.
func EncodeChange(ts time.Time, c apikey.Change) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"v":1,"ts":`)
	writeString(&b, ts.UTC().Format("2006-01-02T15:04:05.000Z"))
	for _, f := range []struct{ k, v string }{
		{"event", c.Action}, {"actor", c.Actor}, {"target", c.Target}, {"principal", string(c.Principal)},
	} {
		b.WriteString(`,"` + f.k + `":`)
		writeString(&b, f.v)
	}
	b.WriteString(`,"changes":[`)
	for i, fc := range c.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"field":`)
		writeString(&b, fc.Name)
		b.WriteString(`,"before":`)
		writeString(&b, fc.Before)
		b.WriteString(`,"after":`)
		writeString(&b, fc.After)
		b.WriteByte('}')
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

func writeString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// The interim line format of [File]: like the [Log]'s version 1 lines, but
// without idx and with the field names of the first draft (request_id,
// key_id). Kept only for File.

// line builds one event line: {"v":1,"ts":…,"event":…, fields…}. Fields
// are written in the order given, strings and integers only, so the bytes
// are fixed by this code and never by a library's choices.
type line struct{ b bytes.Buffer }

func newLine(ts time.Time, event string) *line {
	l := &line{}
	l.b.WriteString(`{"v":1,"ts":`)
	writeString(&l.b, ts.UTC().Format("2006-01-02T15:04:05.000Z"))
	l.str("event", event)
	return l
}

func (l *line) str(k, v string) *line {
	l.b.WriteString(`,"` + k + `":`)
	writeString(&l.b, v)
	return l
}

func (l *line) int(k string, v int64) *line {
	l.b.WriteString(`,"` + k + `":`)
	l.b.WriteString(strconv.FormatInt(v, 10))
	return l
}

func (l *line) bytes() []byte {
	l.b.WriteString("}\n")
	return l.b.Bytes()
}

// EncodeAuthz returns the version 1 line of an authz event.
func EncodeAuthz(ts time.Time, e Authz) []byte {
	return newLine(ts, "authz").
		str("request_id", e.RequestID).str("key_id", e.KeyID).str("principal", e.Principal).str("team", e.Team).
		str("feature", e.Feature).str("scope", e.Scope).str("endpoint", e.Endpoint).str("resource", e.Resource).
		str("client_ip", e.ClientIP).str("decision", e.Decision).str("reason", e.Reason).int("status", int64(e.Status)).
		bytes()
}

// EncodeUsage returns the version 1 line of a usage event.
func EncodeUsage(ts time.Time, e Usage) []byte {
	known := int64(0)
	if e.UsageKnown {
		known = 1
	}
	return newLine(ts, "usage").
		str("request_id", e.RequestID).str("key_id", e.KeyID).int("status", int64(e.Status)).
		int("tokens_in", e.InputTokens).int("tokens_out", e.OutputTokens).int("usage_known", known).
		int("latency_ms", e.Latency.Milliseconds()).str("outcome", e.Outcome).
		bytes()
}
