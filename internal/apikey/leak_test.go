package apikey_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
)

func TestHolder(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot")
	k, s := e.key(root, apikey.KeySpec{Principal: "alice@example.com", Scopes: []string{"chatbot"}, CIDRs: []string{"10.9.0.0/16"}})
	ctx := t.Context()
	got, err := e.verifier.Holder(ctx, s.Reveal())
	if err != nil || got.ID != k.ID {
		t.Fatalf("Holder(key) = %s, %v; want %s (whatever its networks)", got.ID, err, k.ID)
	}
	text := s.Reveal()
	wrongSecret := text[:30] + strings.Repeat("A", len(text)-30)
	unknown := text[:9] + strings.Repeat("Z", 16) + text[25:]
	for name, bad := range map[string]string{"malformed": "sgk_nope", "wrong secret": wrongSecret, "unknown id": unknown,
		"other class": "sga" + text[3:], "empty": ""} {
		if _, err := e.verifier.Holder(ctx, bad); !errors.Is(err, apikey.ErrInvalidKey) {
			t.Errorf("%s: %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := e.issuer.SuspendKey(ctx, root, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.verifier.Holder(ctx, text); err != nil {
		t.Errorf("Holder(suspended key) = %v, want the key", err)
	}
}

func TestRevokeLeaked(t *testing.T) {
	e := newIssuerEnv(t)
	e.principal("alice@example.com", "ml", "chatbot")
	k, s := e.key(root, apikey.KeySpec{Principal: "alice@example.com", Scopes: []string{"chatbot"}})
	e.changes()
	ctx := t.Context()
	rep := apikey.Report{From: "192.0.2.7", Via: "github-secret-scanning", URL: "https://github.com/o/r/blob/m/f"}
	got, revoked, err := e.issuer.RevokeLeaked(ctx, k.ID, rep)
	if err != nil || !revoked || got.Status != apikey.StatusRevoked || got.RevokedBy != "system/leak-report" {
		t.Fatalf("RevokeLeaked = %+v, %v, %v", got, revoked, err)
	}
	if err := e.verify(s, apikey.ClassData); !errors.Is(err, apikey.ErrKeyRevoked) {
		t.Errorf("verify after RevokeLeaked = %v, want ErrKeyRevoked", err)
	}
	cs := e.changes()
	if len(cs) != 1 || cs[0].Action != "key.revoke" || cs[0].Actor != "system/leak-report" || cs[0].Principal != "alice@example.com" {
		t.Fatalf("changes = %+v", cs)
	}
	fields := map[string]string{}
	for _, f := range cs[0].Fields {
		fields[f.Name] = f.After
	}
	if fields["status"] != "revoked" || fields["reported_from"] != rep.From || fields["reported_via"] != rep.Via || fields["reported_url"] != rep.URL {
		t.Errorf("fields = %v", fields)
	}
	if _, revoked, err := e.issuer.RevokeLeaked(ctx, k.ID, rep); revoked || err != nil {
		t.Errorf("second RevokeLeaked = %v, %v; want nothing done", revoked, err)
	}
	if cs := e.changes(); len(cs) != 0 {
		t.Errorf("a repeated report recorded %+v", cs)
	}
	if _, _, err := e.issuer.RevokeLeaked(ctx, "0000000000000000", rep); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}
