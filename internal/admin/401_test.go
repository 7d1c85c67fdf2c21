package admin_test

import (
	"hash/crc32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Requests without exactly one usable admin key: 401.

// withChecksum appends the CRC-32 of s in the key format's 6 base62
// digits, so tests can build well-formed keys that were never issued.
func withChecksum(s string) string {
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	v := crc32.ChecksumIEEE([]byte(s))
	var out [apikey.CRCLen]byte
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return s + string(out[:])
}

// wrongSecret returns key with the same id and another secret, well formed.
func wrongSecret(key string) string {
	return withChecksum(key[:len(key)-apikey.SecretLen-apikey.CRCLen] + strings.Repeat("Z", apikey.SecretLen))
}

// badChecksum returns key with its last checksum digit changed.
func badChecksum(key string) string {
	last := key[len(key)-1]
	if last == '0' {
		return key[:len(key)-1] + "1"
	}
	return key[:len(key)-1] + "0"
}

func TestUnauthorized(t *testing.T) {
	env := newAliceEnv(t)
	_, dataKey := env.dataKey(t, alice, "chatbot")
	suspended, suspendedKey := env.adminKey(t, alice, "keys:self")
	revoked, revokedKey := env.adminKey(t, alice, "keys:self")
	_, expiredKey := env.key(t, apikey.KeySpec{Principal: alice, Class: apikey.ClassAdmin, Scopes: []string{"keys:self"}, TTL: time.Hour})
	_, notYetKey := env.key(t, apikey.KeySpec{Principal: alice, Class: apikey.ClassAdmin, Scopes: []string{"keys:self"},
		NotBefore: t0.Add(24 * time.Hour)})
	_, elsewhereKey := env.key(t, apikey.KeySpec{Principal: alice, Class: apikey.ClassAdmin, Scopes: []string{"keys:self"},
		CIDRs: []string{"10.0.0.0/8"}})
	env.principal(t, apikey.PrincipalSpec{ID: "gone@example.com", Scopes: []string{"keys:self"}})
	_, disabledKey := env.adminKey(t, "gone@example.com", "keys:self")
	if _, err := env.issuer.SuspendKey(t.Context(), apikey.SystemActor, suspended.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.issuer.RevokeKey(t.Context(), apikey.SystemActor, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.issuer.DisablePrincipal(t.Context(), apikey.SystemActor, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(2 * time.Hour) // past expiredKey's end, before the others'
	unknown, err := apikey.Generate(nil, apikey.ClassAdmin, apikey.EnvLive)
	if err != nil {
		t.Fatal(err)
	}

	auth := func(vs ...string) http.Header { return http.Header{"Authorization": vs} }
	tests := []struct {
		name   string
		header http.Header
		msg    string
	}{
		{"Missing", nil, "missing credential"},
		{"Empty", auth(""), "scheme must be Bearer"},
		{"Basic", auth("Basic cm9vdDpwYXNzd29yZA=="), "scheme must be Bearer"},
		{"KeyWithoutScheme", auth(env.rootKey), "scheme must be Bearer"},
		{"BearerAlone", auth("Bearer"), "malformed Bearer credential"},
		{"BearerBlank", auth("Bearer   "), "malformed Bearer credential"},
		{"TwoTokens", auth("Bearer " + env.rootKey + " " + env.rootKey), "malformed Bearer credential"},
		{"CommaList", auth("Bearer " + env.rootKey + ", Bearer " + env.rootKey), "malformed Bearer credential"},
		{"Duplicated", auth("Bearer "+env.rootKey, "Bearer "+env.rootKey), "more than one Authorization header"},
		{"AlsoXAPIKey", http.Header{"Authorization": {"Bearer " + env.rootKey}, "X-Api-Key": {env.rootKey}}, "x-api-key is not accepted"},
		{"OnlyXAPIKey", http.Header{"X-Api-Key": {env.rootKey}}, "missing credential"},
		{"Garbage", auth("Bearer hello"), "malformed API key"},
		{"BadChecksum", auth("Bearer " + badChecksum(env.rootKey)), "malformed API key"},
		{"DataKey", auth("Bearer " + dataKey), "data-plane keys (sgk_) are refused"},
		{"UnknownDataKey", auth("Bearer " + withChecksum("sgk_"+unknown.Secret.Reveal()[4:apikey.KeyLen-apikey.CRCLen])), "data-plane keys (sgk_) are refused"},
		{"UnknownKey", auth("Bearer " + unknown.Secret.Reveal()), "invalid API key"},
		{"WrongSecret", auth("Bearer " + wrongSecret(env.rootKey)), "invalid API key"},
		{"Suspended", auth("Bearer " + suspendedKey), "key is suspended"},
		{"Revoked", auth("Bearer " + revokedKey), "key is revoked"},
		{"Expired", auth("Bearer " + expiredKey), "key has expired"},
		{"NotYetValid", auth("Bearer " + notYetKey), "not valid yet"},
		{"OtherNetwork", auth("Bearer " + elsewhereKey), "client address not allowed"},
		{"PrincipalDisabled", auth("Bearer " + disabledKey), "principal is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, request{method: "GET", path: "/admin/v1/keys", header: tt.header})
			wantError(t, errorOf(t, resp, http.StatusUnauthorized), "unauthorized", "", tt.msg)
			if got := resp.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
				t.Errorf("WWW-Authenticate = %q, want the Bearer scheme", got)
			}
		})
	}

	// An unknown id and a wrong secret must be indistinguishable.
	t.Run("UnknownSameAsWrongSecret", func(t *testing.T) {
		a := env.do(t, request{method: "GET", path: "/admin/v1/keys", key: unknown.Secret.Reveal()})
		b := env.do(t, request{method: "GET", path: "/admin/v1/keys", key: wrongSecret(env.rootKey)})
		if a.status != b.status || string(a.body) != string(b.body) {
			t.Errorf("unknown id answered %d %s, wrong secret %d %s; want the same", a.status, a.body, b.status, b.body)
		}
	})
}

// The presented credential must never come back in an answer or reach the
// log, whether it is accepted or refused. Key ids may appear; secrets not.
func TestCredentialNeverEchoed(t *testing.T) {
	logs := &syncBuffer{}
	env := newTestEnvWith(t, envConfig{logs: logs})
	env.principal(t, apikey.PrincipalSpec{ID: alice, Scopes: []string{"chatbot", "keys:self"}})
	_, dataKey := env.dataKey(t, alice, "chatbot")
	revoked, revokedKey := env.adminKey(t, alice, "keys:self")
	if _, err := env.issuer.RevokeKey(t.Context(), apikey.SystemActor, revoked.ID); err != nil {
		t.Fatal(err)
	}
	presented := []string{env.rootKey, dataKey, revokedKey, wrongSecret(env.rootKey), env.rootKey[:40] + "x", "sga_not_a_key_canary_0123456789"}
	var bodies []string
	for _, cred := range presented {
		for _, req := range []request{
			{method: "GET", path: "/admin/v1/keys", key: cred},
			{method: "GET", path: "/admin/v1/keys", header: http.Header{"Authorization": {"Basic " + cred}}},
			{method: "GET", path: "/admin/v1/keys", header: http.Header{"Authorization": {"Bearer " + cred, "Bearer " + cred}}},
			{method: "GET", path: "/admin/v1/keys/" + cred, key: env.rootKey},
			{method: "POST", path: "/admin/v1/keys", key: cred, body: `{"principal":"alice@example.com"}`},
		} {
			bodies = append(bodies, string(env.do(t, req).body))
		}
	}
	logText := logs.String()
	if !strings.Contains(logText, `"msg":"admin request"`) {
		t.Fatalf("no access lines in the log:\n%s", logText)
	}
	for _, cred := range presented {
		secret := cred[min(len(cred), 9+apikey.IDLen+1):] // all but "sga_live_<id>_"
		if len(secret) < 8 {
			secret = cred
		}
		for _, b := range bodies {
			if strings.Contains(b, secret) {
				t.Errorf("an answer contains a presented credential: %s", b)
			}
		}
		if strings.Contains(logText, secret) {
			t.Errorf("the log contains a presented credential:\n%s", logText)
		}
	}
}

// Explain authenticates like every other route, and a data key is no
// admin credential even when it is the key being explained.
func TestExplainUnauthorized(t *testing.T) {
	env := newExplainEnv(t, allowed)
	body := `{"key_id":"` + string(env.dataKey.ID) + `","method":"POST","path":"/v1/chat/completions"}`
	for _, tt := range []struct{ name, key, msg string }{
		{"Missing", "", "missing credential"},
		{"DataKey", env.dataText, "data-plane keys (sgk_) are refused"},
		{"WrongSecret", wrongSecret(env.rootKey), "invalid API key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, request{method: "POST", path: "/admin/v1/explain", key: tt.key, body: body})
			wantError(t, errorOf(t, resp, http.StatusUnauthorized), "unauthorized", "", tt.msg)
		})
	}
	if n := len(env.explainer.received()); n != 0 {
		t.Errorf("the Explainer was asked %d times without a valid admin key, want 0", n)
	}
}
