package auditverify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestParseCheckpoint(t *testing.T) {
	l := newTestLog(t, t.TempDir(), 16)
	l.appendN(5)
	root := l.root(5)
	other := newTestLog(t, t.TempDir(), 16)
	good := l.sign(testOrigin, 5, root)

	tests := []struct {
		name    string
		signed  []byte
		vkey    string
		want    Checkpoint
		wantErr error
	}{
		{name: "valid", signed: good, vkey: l.vkey,
			want: Checkpoint{Origin: testOrigin, Size: 5, Root: root, Raw: good}},
		{name: "key file with newline", signed: good, vkey: l.vkey + "\n",
			want: Checkpoint{Origin: testOrigin, Size: 5, Root: root, Raw: good}},
		{name: "extension lines", signed: l.signText(fmt.Sprintf("%s\n5\n%s\next one\next two\n", testOrigin, root)), vkey: l.vkey,
			want: Checkpoint{Origin: testOrigin, Size: 5, Root: root}},
		{name: "cosigned by another key", signed: cosign(t, good, other), vkey: l.vkey,
			want: Checkpoint{Origin: testOrigin, Size: 5, Root: root}},
		{name: "size zero", signed: l.sign(testOrigin, 0, tlog.Hash{}), vkey: l.vkey,
			want: Checkpoint{Origin: testOrigin, Size: 0}},
		{name: "bad verifier key", signed: good, vkey: "scopegate", wantErr: ErrVerifierKey},
		{name: "another key", signed: good, vkey: other.vkey, wantErr: ErrUnknownKey},
		{name: "signed by another key", signed: other.sign(testOrigin, 5, root), vkey: l.vkey, wantErr: ErrUnknownKey},
		{name: "body edited", signed: bytes.Replace(good, []byte("\n5\n"), []byte("\n6\n"), 1), vkey: l.vkey, wantErr: ErrSignature},
		{name: "signature edited", signed: editSignature(t, good), vkey: l.vkey, wantErr: ErrSignature},
		{name: "not a note", signed: []byte("scopegate.test/audit\n5\n"), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "empty", signed: nil, vkey: l.vkey, wantErr: ErrMalformed},
		{name: "two lines", signed: l.signText(testOrigin + "\n5\n"), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "leading zero", signed: l.signText(fmt.Sprintf("%s\n05\n%s\n", testOrigin, root)), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "negative size", signed: l.signText(fmt.Sprintf("%s\n-5\n%s\n", testOrigin, root)), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "size with plus", signed: l.signText(fmt.Sprintf("%s\n+5\n%s\n", testOrigin, root)), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "size overflows", signed: l.signText(fmt.Sprintf("%s\n9223372036854775808\n%s\n", testOrigin, root)), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "root not base64", signed: l.signText(testOrigin + "\n5\nnot-base64!\n"), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "root too short", signed: l.signText(testOrigin + "\n5\nAAAA\n"), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "empty extension line", signed: l.signText(fmt.Sprintf("%s\n5\n%s\n\nx\n", testOrigin, root)), vkey: l.vkey, wantErr: ErrMalformed},
		{name: "origin of another log", signed: l.sign("other.test/audit", 5, root), vkey: l.vkey, wantErr: ErrOriginMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCheckpoint(tt.signed, tt.vkey)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseCheckpoint = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Raw, tt.signed) {
				t.Errorf("Raw = %q, want the input", got.Raw)
			}
			got.Raw, tt.want.Raw = nil, nil
			if tt.want.Size == 0 {
				tt.want.Root = got.Root // any root parses; Verify checks it
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("checkpoint (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCheckpointNamesKeys(t *testing.T) {
	// The reason must let the auditor tell a wrong key from an edit.
	l := newTestLog(t, t.TempDir(), 16)
	other := newTestLog(t, t.TempDir(), 16)
	_, err := ParseCheckpoint(other.sign(testOrigin, 0, tlog.Hash{}), l.vkey)
	v, _ := note.NewVerifier(l.vkey)
	ov, _ := note.NewVerifier(other.vkey)
	want := fmt.Sprintf("checkpoint not signed by the trusted key %s+%08x; signed by %s+%08x", testOrigin, v.KeyHash(), testOrigin, ov.KeyHash())
	if err == nil || err.Error() != want {
		t.Errorf("ParseCheckpoint = %v, want %q", err, want)
	}
}

// cosign adds other's signature to a signed note, as a witness would.
func cosign(t *testing.T, signed []byte, other *testLog) []byte {
	t.Helper()
	theirs := other.signText(string(signed[:bytes.Index(signed, []byte("\n\n"))+1]))
	return append(bytes.Clone(signed), theirs[bytes.Index(theirs, []byte("\n\n"))+2:]...)
}

// editSignature flips a bit of the Ed25519 signature itself (after the
// key hash), leaving a well-formed note.
func editSignature(t *testing.T, signed []byte) []byte {
	t.Helper()
	i := bytes.LastIndexByte(signed, ' ')
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(signed[i+1:])))
	if err != nil {
		t.Fatal(err)
	}
	sig[10] ^= 1
	return append(bytes.Clone(signed[:i+1]), base64.StdEncoding.EncodeToString(sig)+"\n"...)
}

func FuzzParseCheckpoint(f *testing.F) {
	l := newTestLog(f, f.TempDir(), 16)
	l.appendN(3)
	f.Add(l.sign(testOrigin, 3, l.root(3)))
	f.Add(l.signText(testOrigin + "\n3\nAAAA\next\n"))
	f.Add([]byte(testOrigin + "\n3\n\n— " + testOrigin + " AAAA\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Arbitrary input must be refused, never panic.
		if ck, err := ParseCheckpoint(data, l.vkey); err == nil {
			checkFormatted(t, ck)
		}
		// Arbitrary bodies, properly signed, reach the body parser.
		text := string(data)
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		signed, err := note.Sign(&note.Note{Text: text}, l.signer)
		if err != nil {
			return
		}
		if ck, err := ParseCheckpoint(signed, l.vkey); err == nil {
			checkFormatted(t, ck)
		}
	})
}

// checkFormatted checks that a parsed checkpoint's body starts with its
// fields in their one canonical spelling.
func checkFormatted(t *testing.T, ck Checkpoint) {
	t.Helper()
	if ck.Origin != testOrigin || ck.Size < 0 {
		t.Fatalf("parsed %+v", ck)
	}
	if want := fmt.Sprintf("%s\n%d\n%s\n", ck.Origin, ck.Size, ck.Root); !bytes.HasPrefix(ck.Raw, []byte(want)) {
		t.Fatalf("body %q does not start with %q", ck.Raw, want)
	}
}
