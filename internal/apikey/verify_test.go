package apikey

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/scope"
)

// mapLookup is a Lookup over maps, with errors to inject. It counts calls
// so tests can check that malformed keys never reach it.
type mapLookup struct {
	keys         map[ID]Key
	principals   map[PrincipalID]Principal
	keyErr       error
	principalErr error
	calls        int
}

func (m *mapLookup) Key(_ context.Context, id ID) (Key, error) {
	m.calls++
	if m.keyErr != nil {
		return Key{}, m.keyErr
	}
	k, ok := m.keys[id]
	if !ok {
		return Key{}, ErrNotFound
	}
	return k, nil
}

func (m *mapLookup) Principal(_ context.Context, id PrincipalID) (Principal, error) {
	m.calls++
	if m.principalErr != nil {
		return Principal{}, m.principalErr
	}
	p, ok := m.principals[id]
	if !ok {
		return Principal{}, ErrNotFound
	}
	return p, nil
}

// verifyFixture is a stored key and principal and the key text for them.
type verifyFixture struct {
	lookup *mapLookup
	hasher *Hasher
	cred   Credential
	now    time.Time
}

var verifyNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// newVerifyFixture stores one active key of class for an active principal.
func newVerifyFixture(t testing.TB, class Class) *verifyFixture {
	t.Helper()
	h := newTestHasher(t, 1)
	cred, err := Generate(seededReader(5), class, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	k := Key{
		ID: cred.ID, Class: class, Principal: "alice@example.com", Env: EnvLive,
		Scopes: scope.MustParseSet("chatbot"), Status: StatusActive, Hash: h.Hash(cred.Secret),
		NotBefore: verifyNow.Add(-time.Hour), ExpiresAt: verifyNow.Add(time.Hour), Last4: cred.Secret.Last4(),
	}
	p := Principal{ID: "alice@example.com", Kind: KindUser, Audience: AudienceInternal, Status: PrincipalActive,
		Ceiling: scope.MustParseSet("chatbot")}
	return &verifyFixture{
		lookup: &mapLookup{keys: map[ID]Key{k.ID: k}, principals: map[PrincipalID]Principal{p.ID: p}},
		hasher: h, cred: cred, now: verifyNow,
	}
}

func (f *verifyFixture) editKey(fn func(*Key)) {
	k := f.lookup.keys[f.cred.ID]
	fn(&k)
	f.lookup.keys[f.cred.ID] = k
}

func (f *verifyFixture) editPrincipal(fn func(*Principal)) {
	p := f.lookup.principals["alice@example.com"]
	fn(&p)
	f.lookup.principals["alice@example.com"] = p
}

func TestVerify(t *testing.T) {
	storeDown := errors.New("database is locked")
	client := netip.MustParseAddr("10.1.2.3")
	tests := []struct {
		name string
		// setup changes the fixture; key returns the text to present (the
		// fixture's key when nil).
		setup  func(*verifyFixture)
		key    func(*verifyFixture) string
		class  Class
		addr   netip.Addr
		want   error
		wantID bool // the VerifyError carries the key id
		// wantCalls is the number of lookups made; -1 means don't check.
		wantCalls int
	}{
		{name: "OK", wantCalls: 2},
		{name: "MalformedLength", key: func(f *verifyFixture) string { return f.cred.Secret.Reveal()[1:] },
			want: ErrBadLength, wantCalls: 0},
		{name: "MalformedPrefix", key: func(f *verifyFixture) string { return "xxx" + f.cred.Secret.Reveal()[3:] },
			want: ErrBadPrefix, wantCalls: 0},
		{name: "MalformedChecksum", key: func(f *verifyFixture) string { return flipLast(f.cred.Secret.Reveal()) },
			want: ErrBadChecksum, wantID: true, wantCalls: 0},
		{name: "UnknownID", setup: func(f *verifyFixture) { delete(f.lookup.keys, f.cred.ID) },
			want: ErrInvalidKey, wantID: true, wantCalls: 1},
		{name: "WrongSecret", key: func(f *verifyFixture) string { return otherSecret(f.cred) },
			want: ErrInvalidKey, wantID: true, wantCalls: 1},
		{name: "WrongSecretOfSuspendedKey", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.Status = StatusSuspended }) },
			key: func(f *verifyFixture) string { return otherSecret(f.cred) }, want: ErrInvalidKey, wantID: true, wantCalls: 1},
		{name: "WrongClassDataKeyOnAdmin", class: ClassAdmin, want: ErrWrongClass, wantID: true, wantCalls: 1},
		{name: "WrongClassStoredRecord", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.Class = ClassAdmin }) },
			want: ErrWrongClass, wantID: true, wantCalls: 1},
		{name: "Suspended", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.Status = StatusSuspended }) },
			want: ErrKeySuspended, wantID: true, wantCalls: 1},
		{name: "Revoked", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.Status = StatusRevoked }) },
			want: ErrKeyRevoked, wantID: true, wantCalls: 1},
		{name: "Expired", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.ExpiresAt = verifyNow }) },
			want: ErrKeyExpired, wantID: true, wantCalls: 1},
		{name: "NotYetValid", setup: func(f *verifyFixture) { f.editKey(func(k *Key) { k.NotBefore = verifyNow.Add(time.Nanosecond) }) },
			want: ErrKeyNotYetValid, wantID: true, wantCalls: 1},
		{name: "ClientAllowed", setup: func(f *verifyFixture) {
			f.editKey(func(k *Key) { k.CIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
		}, wantCalls: 2},
		{name: "ClientNotAllowed", setup: func(f *verifyFixture) {
			f.editKey(func(k *Key) { k.CIDRs = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")} })
		}, want: ErrClientNotAllowed, wantID: true, wantCalls: 1},
		{name: "PrincipalDisabled", setup: func(f *verifyFixture) { f.editPrincipal(func(p *Principal) { p.Status = PrincipalDisabled }) },
			want: ErrPrincipalDisabled, wantID: true, wantCalls: 2},
		{name: "PrincipalUnknownStatus", setup: func(f *verifyFixture) { f.editPrincipal(func(p *Principal) { p.Status = "" }) },
			want: ErrPrincipalDisabled, wantID: true, wantCalls: 2},
		{name: "PrincipalMissing", setup: func(f *verifyFixture) { delete(f.lookup.principals, "alice@example.com") },
			want: ErrPrincipalDisabled, wantID: true, wantCalls: 2},
		{name: "KeyStoreError", setup: func(f *verifyFixture) { f.lookup.keyErr = storeDown },
			want: storeDown, wantID: true, wantCalls: 1},
		{name: "PrincipalStoreError", setup: func(f *verifyFixture) { f.lookup.principalErr = storeDown },
			want: storeDown, wantID: true, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newVerifyFixture(t, ClassData)
			if tt.setup != nil {
				tt.setup(f)
			}
			presented := f.cred.Secret.Reveal()
			if tt.key != nil {
				presented = tt.key(f)
			}
			class := ClassData
			if tt.class != "" {
				class = tt.class
			}
			v := NewVerifier(f.lookup, f.hasher, func() time.Time { return f.now })
			got, err := v.Verify(t.Context(), presented, class, client)
			if tt.wantCalls >= 0 && f.lookup.calls != tt.wantCalls {
				t.Errorf("Verify made %d lookups, want %d", f.lookup.calls, tt.wantCalls)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want success", err)
				}
				if got.Key.ID != f.cred.ID || got.Principal.ID != "alice@example.com" {
					t.Errorf("Verify = key %s principal %s, want %s and alice@example.com", got.Key.ID, got.Principal.ID, f.cred.ID)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if got.Key.ID != "" || got.Principal.ID != "" {
				t.Errorf("Verify returned key %q and principal %q with its error", got.Key.ID, got.Principal.ID)
			}
			ve, ok := errors.AsType[*VerifyError](err)
			if !ok {
				t.Fatalf("Verify error is %T, want *VerifyError", err)
			}
			wantID := ID("")
			if tt.wantID {
				wantID = ID(presented[9 : 9+IDLen])
			}
			if ve.ID != wantID {
				t.Errorf("VerifyError.ID = %q, want %q", ve.ID, wantID)
			}
			if _, isFormat := errors.AsType[*FormatError](err); isFormat != (f.lookup.calls == 0) {
				t.Errorf("Verify error %v: *FormatError = %v, want it exactly when no lookup was made", err, isFormat)
			}
			if strings.Contains(err.Error(), presented[26:50]) {
				t.Errorf("Verify error %q quotes the secret", err)
			}
		})
	}
}

func TestVerifyAdminKey(t *testing.T) {
	f := newVerifyFixture(t, ClassAdmin)
	v := NewVerifier(f.lookup, f.hasher, func() time.Time { return f.now })
	if _, err := v.Verify(t.Context(), f.cred.Secret.Reveal(), ClassAdmin, netip.Addr{}); err != nil {
		t.Errorf("Verify(admin key, ClassAdmin) = %v, want success", err)
	}
	if _, err := v.Verify(t.Context(), f.cred.Secret.Reveal(), ClassData, netip.Addr{}); !errors.Is(err, ErrWrongClass) {
		t.Errorf("Verify(admin key, ClassData) = %v, want ErrWrongClass", err)
	}
}

// TestVerifyUnknownAndWrongAreAlike checks that a caller cannot tell an
// unknown id from a wrong secret by the error.
func TestVerifyUnknownAndWrongAreAlike(t *testing.T) {
	f := newVerifyFixture(t, ClassData)
	v := NewVerifier(f.lookup, f.hasher, func() time.Time { return f.now })
	_, wrong := v.Verify(t.Context(), otherSecret(f.cred), ClassData, netip.Addr{})
	unknown, err := Generate(seededReader(99), ClassData, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	_, missing := v.Verify(t.Context(), unknown.Secret.Reveal(), ClassData, netip.Addr{})
	if wrong.Error() != missing.Error() || Reason(wrong) != Reason(missing) {
		t.Errorf("wrong secret gives %q (%s), unknown id gives %q (%s); want the same", wrong, Reason(wrong), missing, Reason(missing))
	}
}

func TestVerifyDefaultClock(t *testing.T) {
	f := newVerifyFixture(t, ClassData)
	f.editKey(func(k *Key) { k.NotBefore, k.ExpiresAt = time.Time{}, time.Now().Add(-time.Minute) })
	v := NewVerifier(f.lookup, f.hasher, nil)
	if _, err := v.Verify(t.Context(), f.cred.Secret.Reveal(), ClassData, netip.Addr{}); !errors.Is(err, ErrKeyExpired) {
		t.Errorf("Verify with the default clock of a key that expired a minute ago = %v, want ErrKeyExpired", err)
	}
}

// flipLast changes the last character of a key, breaking its checksum.
func flipLast(s string) string {
	c := byte('0')
	if s[len(s)-1] == '0' {
		c = '1'
	}
	return s[:len(s)-1] + string(c)
}

// otherSecret returns a well-formed key with cred's class, env and id but
// another secret, with a valid checksum: what a guesser would send.
func otherSecret(cred Credential) string {
	s := cred.Secret.Reveal()
	body := []byte(s[:KeyLen-CRCLen])
	for i := 9 + IDLen + 1; i < len(body); i++ {
		body[i] = base62[(strings.IndexByte(base62, body[i])+1)%62]
	}
	return withChecksum(string(body) + "000000")
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&FormatError{Err: ErrBadPrefix}, "malformed_key"},
		{&FormatError{Err: ErrBadEnv}, "malformed_key"},
		{&FormatError{Err: ErrBadLength}, "malformed_key"},
		{&FormatError{Err: ErrBadChars}, "malformed_key"},
		{&VerifyError{Err: &FormatError{Err: ErrBadChecksum, ID: "x"}}, "malformed_key"},
		{ErrInvalidKey, "invalid_key"},
		{&VerifyError{ID: "x", Err: ErrInvalidKey}, "invalid_key"},
		{ErrWrongClass, "wrong_key_class"},
		{ErrKeySuspended, "key_suspended"},
		{ErrKeyRevoked, "key_revoked"},
		{fmt.Errorf("check: %w", &VerifyError{Err: ErrKeyRevoked}), "key_revoked"},
		{ErrKeyExpired, "key_expired"},
		{ErrKeyNotYetValid, "key_not_yet_valid"},
		{ErrPrincipalDisabled, "principal_disabled"},
		{ErrClientNotAllowed, "client_not_allowed"},
		{ErrWrongEnv, "wrong_env"},
		{errors.New("connection refused"), "unavailable"},
		{&VerifyError{ID: "x", Err: context.DeadlineExceeded}, "unavailable"},
		{ErrNotFound, "unavailable"},
		{nil, "unavailable"},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if got, want := IsCredentialError(tt.err), tt.want != "unavailable"; got != want {
			t.Errorf("IsCredentialError(%v) = %v, want %v", tt.err, got, want)
		}
	}
}
