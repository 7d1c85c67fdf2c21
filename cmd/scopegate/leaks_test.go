package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/leak"
)

const leakVerifyToken = "test-verify-token-0123456789abcdef0123"

// leakGateway starts a gateway with the leak endpoints configured and
// returns it with the private key GitHub would sign with.
func leakGateway(t *testing.T, be backend) (*gateway, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	leaks := "leaks:\n  verify_token: ${VERIFY_TOKEN}\n  github:\n    public_keys:\n      - id: ghkey1\n        pem: |\n" +
		"          " + strings.ReplaceAll(strings.TrimSpace(pemText), "\n", "\n          ") + "\n"
	g := startGateway(t, backend{be.name, func(t *testing.T) (string, map[string]string) {
		text, vars := be.config(t)
		env := map[string]string{"VERIFY_TOKEN": leakVerifyToken}
		maps.Copy(env, vars)
		return text + leaks, env
	}})
	g.admin(g.info.AdminKey, "POST", "/admin/v1/principals", map[string]any{"id": "leaky@example.com", "kind": "user",
		"audience": "internal", "team": "red", "scopes": []string{"chatbot"}}, http.StatusCreated, nil)
	return g, priv
}

// waitRevoked waits until key is refused as revoked.
func waitRevoked(t *testing.T, g *gateway, key string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, reason := g.models(key)
		if code == http.StatusUnauthorized && reason == "key_revoked" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key not revoked: GET /v1/models = %d %s", code, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLeakVerifyEndpoint(t *testing.T) {
	g, _ := leakGateway(t, backends[0])
	k := g.createKey(g.info.AdminKey, map[string]any{"principal": "leaky@example.com", "scopes": []string{"chatbot"}})
	url := "http://" + g.info.DataAddr + "/v1/keys/verify-leak"
	if code, _ := g.do("POST", url, "", nil, map[string]string{"key": k.Key}); code != http.StatusUnauthorized {
		t.Errorf("without the verify token = %d, want 401", code)
	}
	if code, _ := g.do("POST", url, k.Key, nil, map[string]string{"key": k.Key}); code != http.StatusUnauthorized {
		t.Errorf("with a data key as token = %d, want 401", code)
	}
	check := func(name string, body any, wantCode int, want string) {
		t.Helper()
		code, b := g.do("POST", url, leakVerifyToken, nil, body)
		if code != wantCode || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s: %d %s, want %d %s", name, code, b, wantCode, want)
		}
	}
	check("live key", map[string]string{"key": k.Key}, 200, `{"live":true}`)
	check("TruffleHog's body", map[string]any{"scopegate": map[string][]string{"key": {k.Key}}}, 200, `{"live":true}`)
	check("plain text", k.Key, 200, `{"live":true}`)
	check("garbage", map[string]string{"key": "sgk_nope"}, 404, `{"live":false}`)
	check("wrong secret", map[string]string{"key": k.Key[:30] + strings.Repeat("A", len(k.Key)-30)}, 404, `{"live":false}`)
	g.admin(g.info.AdminKey, "POST", "/admin/v1/keys/"+k.ID+"/suspend", nil, 200, nil)
	check("suspended key", map[string]string{"key": k.Key}, 404, `{"live":false}`)
}

func TestRevokeLeaked(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) { testRevokeLeaked(t, be) })
	}
}

func testRevokeLeaked(t *testing.T, be backend) {
	g, _ := leakGateway(t, be)
	k := g.createKey(g.info.AdminKey, map[string]any{"principal": "leaky@example.com", "scopes": []string{"chatbot"}})
	g.wantModels("before the report", k.Key, 200, "")
	url := "http://" + g.info.DataAddr + "/v1/keys/revoke-leaked"
	report := func(body any) (int, string) {
		code, b := g.do("POST", url, "", nil, body)
		return code, string(b)
	}
	wantCode, wantBody := report(map[string]string{"key": "not a key"})
	if wantCode != http.StatusAccepted {
		t.Fatalf("malformed key = %d, want 202", wantCode)
	}
	unknown := "sgk_live_" + strings.Repeat("Z", 16) + k.Key[25:]
	for name, body := range map[string]any{
		"unknown id": map[string]string{"key": unknown},
		"live key":   map[string]string{"key": k.Key},
	} {
		if code, b := report(body); code != wantCode || b != wantBody {
			t.Errorf("%s: %d %s, want the same as a malformed key: %d %s", name, code, b, wantCode, wantBody)
		}
	}
	waitRevoked(t, g, k.Key)
	if code, b := report(k.Key); code != wantCode || b != wantBody {
		t.Errorf("revoked key: %d %s, want %d %s", code, b, wantCode, wantBody)
	}
	var alerts struct {
		Items []struct {
			Rule, Subject, Figures string
		} `json:"items"`
	}
	g.admin(g.info.AdminKey, "GET", "/admin/v1/alerts?rule=key_leaked", nil, 200, &alerts)
	if len(alerts.Items) != 1 || alerts.Items[0].Subject != "key:"+k.ID || !strings.Contains(alerts.Items[0].Figures, "from=127.0.0.1") {
		t.Errorf("key_leaked alerts = %+v", alerts.Items)
	}
	log := readAuditLog(t, g.dataDir)
	if !bytes.Contains(log, []byte("system/leak-report")) || !bytes.Contains(log, []byte("reported_from")) {
		t.Errorf("audit log has no key.revoke by system/leak-report with reported_from")
	}
}

func TestGitHubSecretScanning(t *testing.T) {
	g, priv := leakGateway(t, backends[0])
	k := g.createKey(g.info.AdminKey, map[string]any{"principal": "leaky@example.com", "scopes": []string{"chatbot"}})
	url := "http://" + g.info.DataAddr + "/v1/keys/github-secret-scanning"
	body, _ := json.Marshal([]map[string]string{
		{"token": k.Key, "type": "scopegate_data_key", "url": "https://github.com/o/r/blob/x/f", "source": "content"},
		{"token": "sgk_live_nothing", "type": "scopegate_data_key", "url": "https://github.com/o/r", "source": "content"},
	})
	sign := func(b []byte) string {
		sum := sha256.Sum256(b)
		sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(sig)
	}
	send := func(keyID, sig string, b []byte) (int, []byte) {
		h := http.Header{"Github-Public-Key-Identifier": {keyID}, "Github-Public-Key-Signature": {sig}}
		return g.do("POST", url, "", h, string(b))
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSum := sha256.Sum256(body)
	otherSig, _ := ecdsa.SignASN1(rand.Reader, other, otherSum[:])
	tampered := bytes.Replace(body, []byte("content"), []byte("CONTENT"), 1)
	for name, c := range map[string]struct {
		id, sig string
		body    []byte
	}{
		"no signature":      {"ghkey1", "", body},
		"unknown key id":    {"ghkey2", sign(body), body},
		"other key's sig":   {"ghkey1", base64.StdEncoding.EncodeToString(otherSig), body},
		"tampered body":     {"ghkey1", sign(body), tampered},
		"signature not b64": {"ghkey1", "!!!", body},
	} {
		if code, b := send(c.id, c.sig, c.body); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, b)
		}
	}
	g.wantModels("after refused reports", k.Key, 200, "")
	code, b := send("ghkey1", sign(body), body)
	if code != http.StatusOK {
		t.Fatalf("signed report = %d %s", code, b)
	}
	type label struct {
		TokenHash string `json:"token_hash"`
		TokenType string `json:"token_type"`
		Label     string `json:"label"`
	}
	var labels []label
	if err := json.Unmarshal(b, &labels); err != nil {
		t.Fatal(err)
	}
	want := []label{
		{leak.TokenHash(k.Key), "scopegate_data_key", "true_positive"},
		{leak.TokenHash("sgk_live_nothing"), "scopegate_data_key", "false_positive"},
	}
	if len(labels) != 2 || labels[0] != want[0] || labels[1] != want[1] {
		t.Errorf("labels = %+v, want %+v", labels, want)
	}
	if !strings.Contains(string(b), `"token_hash"`) || !strings.Contains(string(b), `"label"`) {
		t.Errorf("answer does not use GitHub's field names: %s", b)
	}
	waitRevoked(t, g, k.Key)
	// A repeated report still labels the (now revoked) key a true positive.
	if _, b := send("ghkey1", sign(body), body); !strings.Contains(string(b), "true_positive") {
		t.Errorf("repeated report: %s", b)
	}
}
