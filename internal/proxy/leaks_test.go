package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/leak"
)

// fakeLeaks is a LeakResponder that knows one live key and records reports.
type fakeLeaks struct {
	mu      sync.Mutex
	live    string
	reports []apikey.Report
	texts   []string
}

func (f *fakeLeaks) Live(_ context.Context, text string) (bool, error) { return text == f.live, nil }

func (f *fakeLeaks) Report(_ context.Context, text string, rep apikey.Report) (leak.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.texts, f.reports = append(f.texts, text), append(f.reports, rep)
	if text == f.live {
		return leak.Revoked, nil
	}
	return leak.NotAKey, nil
}

const testVerifyToken = "0123456789abcdef0123456789abcdef"

func newTestLeakHandler(t *testing.T, gh *leak.GitHubKeys) (*LeakHandler, *fakeLeaks, *time.Time) {
	t.Helper()
	now := time.Unix(1_700_000_000, 0)
	f := &fakeLeaks{live: "sgk_live_thekey"}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := NewLeakHandler(LeakConfig{Responder: f, VerifyToken: testVerifyToken, GitHub: gh, Next: next,
		Now: func() time.Time { return now }})
	return h, f, &now
}

func leakCall(h http.Handler, method, path, remote string, header http.Header, body string) (int, string, http.Header) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	maps.Copy(r.Header, header)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b), w.Result().Header
}

func TestLeakHandlerRouting(t *testing.T) {
	h, _, _ := newTestLeakHandler(t, nil)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"POST", "/v1/chat/completions", http.StatusTeapot},
		{"POST", "/v1/keys/revoke-leaked/", http.StatusTeapot},
		{"POST", "/v1/keys/../keys/revoke-leaked", http.StatusTeapot}, // unclean: the gateway refuses it
		{"GET", "/v1/keys/revoke-leaked", http.StatusMethodNotAllowed},
		{"POST", "/v1/keys/github-secret-scanning", http.StatusTeapot}, // no GitHub keys: off
	} {
		if code, _, _ := leakCall(h, c.method, c.path, "192.0.2.1:1", nil, ""); code != c.want {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, code, c.want)
		}
	}
	off := NewLeakHandler(LeakConfig{Responder: &fakeLeaks{}, Next: h.cfg.Next})
	if code, _, _ := leakCall(off, "POST", PathVerifyLeak, "192.0.2.1:1", nil, "x"); code != http.StatusTeapot {
		t.Errorf("verify-leak without a token configured = %d, want the gateway's answer", code)
	}
}

func TestVerifyLeakHandler(t *testing.T) {
	h, _, now := newTestLeakHandler(t, nil)
	auth := http.Header{"Authorization": {"Bearer " + testVerifyToken}}
	if code, _, hdr := leakCall(h, "POST", PathVerifyLeak, "192.0.2.1:1", http.Header{"Authorization": {"Bearer wrong"}}, `{"key":"sgk_live_thekey"}`); code != 401 || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong token = %d", code)
	}
	if code, b, _ := leakCall(h, "POST", PathVerifyLeak, "192.0.2.1:1", auth, `{"key":"sgk_live_thekey"}`); code != 200 || strings.TrimSpace(b) != `{"live":true}` {
		t.Errorf("live = %d %s", code, b)
	}
	if code, b, _ := leakCall(h, "POST", PathVerifyLeak, "192.0.2.1:1", auth, `{"key":"sgk_live_other"}`); code != 404 || strings.TrimSpace(b) != `{"live":false}` {
		t.Errorf("not live = %d %s", code, b)
	}
	// The bucket: 20 at once in all (two spent above), then 10 a second.
	for i := range verifyBurst - 2 {
		if code, _, _ := leakCall(h, "POST", PathVerifyLeak, "192.0.2.9:1", auth, "x"); code == 429 {
			t.Fatalf("refused after %d checks", i+2)
		}
	}
	if code, _, hdr := leakCall(h, "POST", PathVerifyLeak, "192.0.2.9:1", auth, "x"); code != 429 || hdr.Get("Retry-After") == "" {
		t.Errorf("past the burst = %d, want 429 with Retry-After", code)
	}
	*now = now.Add(time.Second / verifyRate)
	if code, _, _ := leakCall(h, "POST", PathVerifyLeak, "192.0.2.9:1", auth, "x"); code == 429 {
		t.Errorf("a token did not come back")
	}
}

func TestRevokeLeakedHandler(t *testing.T) {
	h, f, _ := newTestLeakHandler(t, nil)
	var first string
	for i, body := range []string{`{"key":"sgk_live_thekey"}`, "sgk_live_thekey", `{"key":"nope"}`, "", `[1,2]`, strings.Repeat("a", 1000)} {
		code, b, _ := leakCall(h, "POST", PathRevokeLeaked, "198.51.100.7:5", nil, body)
		if i == 0 {
			first = b
		}
		if code != http.StatusAccepted || b != first {
			t.Errorf("body %.20q: %d %s, want 202 %s", body, code, b, first)
		}
	}
	if len(f.reports) != 6 || f.reports[0].From != "198.51.100.7" || f.reports[0].Via != "revoke-leaked" || f.texts[1] != "sgk_live_thekey" {
		t.Errorf("reports = %+v %q", f.reports, f.texts)
	}
	for range reportBurst - 6 {
		leakCall(h, "POST", PathRevokeLeaked, "198.51.100.7:5", nil, "x")
	}
	if code, _, _ := leakCall(h, "POST", PathRevokeLeaked, "198.51.100.7:5", nil, "x"); code != 429 {
		t.Errorf("past the per-address burst = %d, want 429", code)
	}
	if code, _, _ := leakCall(h, "POST", PathRevokeLeaked, "198.51.100.8:5", nil, "x"); code != 202 {
		t.Errorf("another address = %d, want 202", code)
	}
}

func TestGitHubReportHandler(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	gh, err := leak.ParseGitHubKeys(map[string]string{"k1": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	if err != nil {
		t.Fatal(err)
	}
	h, f, _ := newTestLeakHandler(t, gh)
	sign := func(b string) http.Header {
		sum := sha256.Sum256([]byte(b))
		sig, _ := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		return http.Header{"Github-Public-Key-Identifier": {"k1"}, "Github-Public-Key-Signature": {base64.StdEncoding.EncodeToString(sig)}}
	}
	body := `[{"token":"sgk_live_thekey","type":"t","url":"https://github.com/o/r/blob/m/a","source":"content"},{"token":"x","type":"t","url":"u","source":"s"}]`
	code, b, _ := leakCall(h, "POST", PathGitHubScanning, "140.82.1.1:1", sign(body), body)
	want := `[{"token_hash":"` + leak.TokenHash("sgk_live_thekey") + `","token_type":"t","label":"true_positive"},{"token_hash":"` + leak.TokenHash("x") + `","token_type":"t","label":"false_positive"}]`
	if code != 200 || strings.TrimSpace(b) != want {
		t.Errorf("signed report = %d %s\nwant %s", code, b, want)
	}
	if f.reports[0].URL != "https://github.com/o/r/blob/m/a" || f.reports[0].Via != "github-secret-scanning" {
		t.Errorf("report = %+v", f.reports[0])
	}
	if code, _, _ := leakCall(h, "POST", PathGitHubScanning, "140.82.1.1:1", sign(body), body+" "); code != 401 {
		t.Errorf("tampered body = %d, want 401", code)
	}
	notArray := `{"token":"x"}`
	if code, _, _ := leakCall(h, "POST", PathGitHubScanning, "140.82.1.1:1", sign(notArray), notArray); code != 400 {
		t.Errorf("signed non-array = %d, want 400", code)
	}
}
