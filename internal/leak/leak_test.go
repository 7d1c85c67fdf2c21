package leak

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
)

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := NewBucket(2, 3, func() time.Time { return now })
	for i := range 3 {
		if !b.Allow() {
			t.Fatalf("refused token %d of a full bucket", i)
		}
	}
	if b.Allow() {
		t.Fatal("empty bucket allowed")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if !b.Allow() || b.Allow() {
		t.Fatal("want exactly one token after half a second")
	}
	now = now.Add(time.Hour)
	for range 3 {
		b.Allow()
	}
	if b.Allow() {
		t.Fatal("bucket refilled beyond its burst")
	}
}

func TestBucketsPerKeyAndBounded(t *testing.T) {
	now := time.Unix(0, 0)
	bs := NewBuckets(1, 1, func() time.Time { return now })
	if !bs.Allow("a") || bs.Allow("a") || !bs.Allow("b") {
		t.Fatal("buckets are not per key")
	}
	for i := range maxKeyed + 10 {
		bs.Allow(strconv.Itoa(i))
	}
	if len(bs.buckets) > maxKeyed {
		t.Fatalf("%d buckets kept, bound is %d", len(bs.buckets), maxKeyed)
	}
}

func TestGitHubKeys(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	good := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	derRSA, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for name, text := range map[string]string{
		"not PEM": "hello",
		"P-384":   string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der384})),
		"RSA":     string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: derRSA})),
		"private": string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})),
	} {
		if _, err := ParseGitHubKeys(map[string]string{"k": text}); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	g, err := ParseGitHubKeys(map[string]string{"k": good})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"token":"x"}]`)
	sum := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, sum[:])
	b64 := base64.StdEncoding.EncodeToString(sig)
	if err := g.Verify("k", b64, body); err != nil {
		t.Errorf("good signature: %v", err)
	}
	for name, c := range map[string]struct {
		id, sig string
		body    []byte
	}{
		"unknown id": {"other", b64, body},
		"tampered":   {"k", b64, []byte(`[{"token":"y"}]`)},
		"not base64": {"k", "***", body},
		"empty":      {"k", "", body},
	} {
		if err := g.Verify(c.id, c.sig, c.body); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}

type fakeHolders map[string]apikey.Key

func (f fakeHolders) Holder(_ context.Context, text string) (apikey.Key, error) {
	if text == "down" {
		return apikey.Key{}, errors.New("store down")
	}
	k, ok := f[text]
	if !ok {
		return apikey.Key{}, apikey.ErrInvalidKey
	}
	return k, nil
}

type fakeRevoker struct{ revoked map[apikey.ID]apikey.Report }

func (f *fakeRevoker) RevokeLeaked(_ context.Context, id apikey.ID, r apikey.Report) (apikey.Key, bool, error) {
	if _, ok := f.revoked[id]; ok {
		return apikey.Key{ID: id, Principal: "p"}, false, nil
	}
	f.revoked[id] = r
	return apikey.Key{ID: id, Principal: "p"}, true, nil
}

type fakeAlerter []anomaly.Alert

func (f *fakeAlerter) Raise(_ context.Context, a anomaly.Alert) error { *f = append(*f, a); return nil }

func TestResponder(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	holders := fakeHolders{
		"live":      {ID: "k1", Principal: "p", Status: apikey.StatusActive},
		"suspended": {ID: "k2", Principal: "p", Status: apikey.StatusSuspended},
		"expired":   {ID: "k3", Principal: "p", Status: apikey.StatusActive, ExpiresAt: now.Add(-time.Hour)},
	}
	rv := &fakeRevoker{revoked: map[apikey.ID]apikey.Report{}}
	var alerts fakeAlerter
	r := NewResponder(holders, rv, &alerts, nil, func() time.Time { return now })
	ctx := context.Background()
	for text, want := range map[string]bool{"live": true, "suspended": false, "expired": false, "garbage": false} {
		if got, err := r.Live(ctx, text); got != want || err != nil {
			t.Errorf("Live(%s) = %v, %v; want %v", text, got, err, want)
		}
	}
	if _, err := r.Live(ctx, "down"); err == nil {
		t.Error("Live hid a store failure")
	}
	rep := apikey.Report{From: "192.0.2.1", Via: "revoke-leaked", URL: "https://x/a b"}
	for _, c := range []struct {
		text string
		want Outcome
	}{{"garbage", NotAKey}, {"live", Revoked}, {"live", AlreadyRevoked}, {"suspended", Revoked}} {
		if got, err := r.Report(ctx, c.text, rep); got != c.want || err != nil {
			t.Errorf("Report(%s) = %v, %v; want %v", c.text, got, err, c.want)
		}
	}
	if _, err := r.Report(ctx, "down", rep); err == nil {
		t.Error("Report hid a store failure")
	}
	if len(alerts) != 2 || alerts[0].Rule != anomaly.RuleKeyLeaked || alerts[0].Subject != "key:k1" || alerts[0].Key != "k1" ||
		alerts[0].Principal != "p" || alerts[0].Figures != "via=revoke-leaked from=192.0.2.1 url=https://x/a%20b" {
		t.Errorf("alerts = %+v", alerts)
	}
}
