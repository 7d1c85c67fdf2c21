package audit

import (
	"bytes"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scopegate/scopegate/internal/apikey"
)

// TestLine checks the contract the cluster log relies on: a body encoded
// before the record is numbered becomes, with Line, exactly the line
// Encode writes.
func TestLine(t *testing.T) {
	events := []Event{
		Authz{RequestID: "req-1", KeyID: "K1", Principal: "alice", Decision: "allow", Reason: "allowed"},
		Usage{RequestID: "r", Status: 502, InputTokens: -1, Outcome: "upstream_error"},
		&Admin{Action: "key.revoke", Actor: "admin/ID", Target: "K", Fields: []apikey.FieldChange{{Name: "status", Before: "active", After: "revoked\n\x01"}}},
		Alert{Rule: "budget", Subject: "K", Figures: "used=10 limit=5"},
		Override{Reason: "restore", SignedSize: 10, Records: 7},
		Authz{RequestID: "\xff invalid utf-8"},
	}
	for _, idx := range []uint64{0, 7, 1<<53 + 1} {
		for _, e := range events {
			want, err := Encode(idx, testTime, e)
			if err != nil {
				t.Fatalf("Encode(%d, %T) = %v", idx, e, err)
			}
			body, err := EncodeBody(e)
			if err != nil {
				t.Fatalf("EncodeBody(%T) = %v", e, err)
			}
			got, err := Line(idx, testTime, body)
			if err != nil {
				t.Fatalf("Line(%d, %T) = %v", idx, e, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Line(%d, EncodeBody(%T)) =\n%s\nwant (Encode)\n%s", idx, e, got, want)
			}
		}
	}
}

func TestLineErrors(t *testing.T) {
	body, err := EncodeBody(Authz{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Line(1, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), body); err == nil {
		t.Errorf("Line in year 10000 = %s, want an error", got)
	}
	if _, err := Line(1, testTime, bytes.Repeat([]byte("x"), maxLine)); err == nil {
		t.Error("Line with a body of maxLine bytes succeeded, want an error")
	}
	if got, err := EncodeBody(Admin{Action: "authz"}); err == nil {
		t.Errorf("EncodeBody(Admin authz) = %s, want an error", got)
	}
}

func TestSignCheckpoint(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "scopegate/test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	root := tlog.RecordHash([]byte("leaf"))
	msg, err := SignCheckpoint(signer, 42, root)
	if err != nil {
		t.Fatalf("SignCheckpoint = %v", err)
	}
	got, err := openCheckpoint(msg, verifier, "scopegate/test/audit")
	if err != nil {
		t.Fatalf("openCheckpoint(SignCheckpoint) = %v", err)
	}
	if got.size != 42 || got.root != root {
		t.Errorf("checkpoint names size %d root %v, want 42 %v", got.size, got.root, root)
	}
	if want := formatCheckpoint("scopegate/test/audit", 42, root); !bytes.HasPrefix(msg, []byte(want+"\n")) {
		t.Errorf("SignCheckpoint = %q, want the body %q", msg, want)
	}
}
