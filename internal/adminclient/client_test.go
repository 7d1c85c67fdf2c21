package adminclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAdminKey = "sga_live_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBCCCCCC"

// seen is one request as the fake server received it.
type seen struct {
	Method, Path, Query string
	Auth, Idempotency   string
	ContentType         string
	Body                string
}

// fakeAPI is an admin API stand-in: it records every request and answers
// with the next of its canned answers (the last one repeats).
type fakeAPI struct {
	mu       sync.Mutex
	requests []seen
	answers  []func(w http.ResponseWriter)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	n := len(f.requests)
	f.requests = append(f.requests, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), Idempotency: r.Header.Get("Idempotency-Key"),
		ContentType: r.Header.Get("Content-Type"), Body: string(b)})
	answer := f.answers[min(n, len(f.answers)-1)]
	f.mu.Unlock()
	answer(w)
}

func (f *fakeAPI) seen() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.requests...)
}

// answer returns a canned answer with status and a JSON body.
func answer(status int, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// dropConnection is a canned answer that closes the connection without a
// response, as a network failure would.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// newTestClient starts a fake API with the given answers and returns a
// client for it that retries without waiting.
func newTestClient(t *testing.T, answers ...func(http.ResponseWriter)) (*Client, *fakeAPI) {
	t.Helper()
	f := &fakeAPI{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, testAdminKey, srv.Client())
	if err != nil {
		t.Fatalf("New(%q) = %v", srv.URL, err)
	}
	c.backoff = func(int) time.Duration { return 0 }
	return c, f
}

func TestNewBaseURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"127.0.0.1:8081", "http://127.0.0.1:8081"},
		{":8081", "http://127.0.0.1:8081"},
		{"localhost:8081", "http://localhost:8081"},
		{"http://127.0.0.1:8081", "http://127.0.0.1:8081"},
		{"http://127.0.0.1:8081/", "http://127.0.0.1:8081"},
		{" https://admin.example.com/gw/ ", "https://admin.example.com/gw"},
		{"http://[::1]:8081", "http://[::1]:8081"},
	}
	for _, tt := range tests {
		c, err := New(tt.in, testAdminKey, nil)
		if err != nil {
			t.Errorf("New(%q) = %v", tt.in, err)
			continue
		}
		if c.base != tt.want {
			t.Errorf("New(%q).base = %q, want %q", tt.in, c.base, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name, addr, key, want string
	}{
		{"NoAddr", "", testAdminKey, "no admin API address"},
		{"Scheme", "ftp://127.0.0.1:8081", testAdminKey, "not http or https"},
		{"UserInfo", "http://bob:hunter2@127.0.0.1:8081", testAdminKey, "user info"},
		{"Query", "http://127.0.0.1:8081/?x=1", testAdminKey, "query"},
		{"NoHost", "http://", testAdminKey, "no host"},
		{"NoKey", "127.0.0.1:8081", " \n", "no admin key"},
		{"BadKey", "127.0.0.1:8081", "sga_live_x y", "non-printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.addr, tt.key, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New(%q, …) = %v, want error containing %q", tt.addr, err, tt.want)
			}
			for _, secret := range []string{"hunter2", "sga_live_x"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestNewTrimsKey(t *testing.T) {
	c, f := newTestClient(t, answer(200, `{"id":"k"}`))
	c2, err := New(c.base, testAdminKey+"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Key(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.seen()[0].Auth, "Bearer "+testAdminKey; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
}

func TestCleartext(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8081", false},
		{"http://localhost:8081", false},
		{"http://[::1]:8081", false},
		{"https://admin.example.com", false},
		{"http://admin.example.com", true},
		{"10.0.0.5:8081", true},
	}
	for _, tt := range tests {
		c, err := New(tt.addr, testAdminKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Cleartext(); got != tt.want {
			t.Errorf("New(%q).Cleartext() = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestNewDoesNotChangeCallersClient(t *testing.T) {
	hc := &http.Client{}
	if _, err := New("127.0.0.1:8081", testAdminKey, hc); err != nil {
		t.Fatal(err)
	}
	if hc.CheckRedirect != nil {
		t.Error("New set CheckRedirect on the caller's http.Client")
	}
}

func TestNoRedirect(t *testing.T) {
	var elsewhere bool
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere = true }))
	t.Cleanup(other.Close)
	c, _ := newTestClient(t, func(w http.ResponseWriter) {
		w.Header().Set("Location", other.URL+"/admin/v1/keys/k")
		w.WriteHeader(http.StatusFound)
	})
	_, err := c.Key(t.Context(), "k")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.Status != http.StatusFound {
		t.Fatalf("Key after a redirect = %v, want *APIError with status 302", err)
	}
	if elsewhere {
		t.Error("the client followed the redirect")
	}
}

func TestTransportErrorHidesKey(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more
	c, err := New(addr, testAdminKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = func(int) time.Duration { return 0 }
	_, err = c.Keys(t.Context(), KeyFilter{})
	if err == nil {
		t.Fatal("Keys against a closed server succeeded")
	}
	if strings.Contains(err.Error(), testAdminKey) {
		t.Errorf("error %q contains the admin key", err)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	asked := make(chan struct{})
	var once sync.Once
	c, f := newTestClient(t, func(w http.ResponseWriter) {
		answer(503, `{"error":{"type":"unavailable","message":"store down"}}`)(w)
		once.Do(func() { close(asked) })
	})
	c.backoff = func(int) time.Duration { return time.Hour }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Key(ctx, "k")
		done <- err
	}()
	<-asked
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Key after cancel = %v, want context.Canceled", err)
	}
	if n := len(f.seen()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}
