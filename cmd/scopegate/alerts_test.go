package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/notify"
	"github.com/scopegate/scopegate/internal/store/sqlite"
)

// TestAlertScripts runs the scripts of testdata/alerts against an admin
// API whose alert pipeline is built by newAlerting on a real stack (SQLite,
// audit log, Issuer), as serve builds it, with a dispatcher the script
// raises alerts through directly: detectors are tested on their own.
func TestAlertScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/alerts",
		RequireExplicitExec: true,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"alertserve":  cmdAlertServe,
			"raisealert":  cmdRaiseAlert,
			"waitwebhook": cmdWaitWebhook,
			"setenvjson":  cmdSetenvJSON,
			"serverlogs":  cmdServerLogs,
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			env.Values[alertStateKey{}] = &alertState{}
			return nil
		},
	})
}

type alertStateKey struct{}

// alertState is what alertserve leaves for the other commands.
type alertState struct {
	dispatcher *anomaly.Dispatcher
	webhook    *webhookSink
	logs       *lockedBuffer
}

func stateOf(ts *testscript.TestScript) *alertState {
	return ts.Value(alertStateKey{}).(*alertState)
}

// cmdAlertServe starts the admin API with the alert pipeline on a new
// data directory under $WORK, at the clock scriptNow, with a webhook to a
// local server, and points the script at it (SCOPEGATE_ADDR,
// SCOPEGATE_ADMIN_KEY). Arguments are per-rule actions.
//
//	alertserve [rule=action ...]
//	alertserve probing=suspend_key
func cmdAlertServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: alertserve [rule=action ...]")
	}
	actions := map[string]string{}
	for _, a := range args {
		rule, action, ok := strings.Cut(a, "=")
		if !ok {
			ts.Fatalf("usage: alertserve [rule=action ...]")
		}
		actions[rule] = action
	}
	ts.Check(anomaly.ValidateActions(actions))
	cfg := config.Default()
	cfg.DataDir = ts.MkAbs("scopegate-data")
	logs := &lockedBuffer{}
	logger := newLogger(logs, "debug")
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{getenv: ts.Getenv, stdin: strings.NewReader(""), stdout: logs, stderr: logs, hooks: &testHooks{now: scriptNow}}
	s, err := openStack(ctx, e, cfg, logger, stackOptions{})
	if err != nil {
		cancel()
		ts.Fatalf("open stack: %v", err)
	}
	secret, err := s.bootstrap(ctx)
	ts.Check(err)
	sink := newWebhookSink()
	al := newAlerting(s, sqlite.NewAlertStore(s.store.(*sqlite.DB)), alertingOptions{
		Actions: actions, Webhook: notify.Config{URL: sink.srv.URL + "/hook/SECRET?token=SECRET", Backoff: time.Millisecond}})
	srv := httptest.NewServer(admin.NewHandler(admin.Config{Logger: logger, Issuer: s.issuer, Verifier: s.verifier,
		Alerts: al.inbox, Now: s.now}))
	done := make(chan struct{})
	go func() { al.run(ctx); close(done) }()
	ts.Defer(func() {
		srv.Close()
		cancel()
		<-done
		sink.srv.Close()
		if err := s.Close(); err != nil {
			ts.Logf("close stack: %v", err)
		}
	})
	st := stateOf(ts)
	st.dispatcher, st.webhook, st.logs = al.dispatcher, sink, logs
	ts.Setenv("SCOPEGATE_ADDR", srv.URL)
	ts.Setenv("SCOPEGATE_ADMIN_KEY", secret.Reveal())
}

// cmdRaiseAlert raises an alert through the server's dispatcher. at is an
// offset from scriptNow (a Go duration); figures may hold spaces when the
// argument is quoted.
//
//	raisealert RULE SUBJECT [principal=P] [key=K] [at=D] [figures=F]
//	raisealert probing key:$KEY principal=alice key=$KEY at=1m 'figures=denials=12 window=1m0s'
func cmdRaiseAlert(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: raisealert RULE SUBJECT [principal=P] [key=K] [at=D] [figures=F]")
	}
	a := anomaly.Alert{Rule: args[0], Subject: args[1], At: scriptNow()}
	for _, arg := range args[2:] {
		name, value, _ := strings.Cut(arg, "=")
		switch name {
		case "principal":
			a.Principal = apikey.PrincipalID(value)
		case "key":
			a.Key = apikey.ID(value)
		case "at":
			d, err := time.ParseDuration(value)
			ts.Check(err)
			a.At = a.At.Add(d)
		case "figures":
			a.Figures = value
		default:
			ts.Fatalf("raisealert: unknown argument %q", arg)
		}
	}
	err := stateOf(ts).dispatcher.Raise(context.Background(), a)
	switch {
	case err != nil && !neg:
		ts.Fatalf("raisealert: %v", err)
	case err == nil && neg:
		ts.Fatalf("raisealert succeeded unexpectedly")
	}
}

// cmdWaitWebhook waits until the webhook received N posts, then writes
// them, one JSON body a line, to the file webhook.jsonl.
//
//	waitwebhook N
func cmdWaitWebhook(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitwebhook N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	bodies, ok := stateOf(ts).webhook.wait(n, serveTimeout)
	if !ok {
		ts.Fatalf("the webhook received %d posts within %s, want %d:\n%s", len(bodies), serveTimeout, n, strings.Join(bodies, "\n"))
	}
	ts.Check(os.WriteFile(ts.MkAbs("webhook.jsonl"), []byte(strings.Join(bodies, "\n")+"\n"), 0o600))
}

// cmdServerLogs writes what the server logged so far to server.log.
//
//	serverlogs
func cmdServerLogs(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: serverlogs")
	}
	ts.Check(os.WriteFile(ts.MkAbs("server.log"), []byte(stateOf(ts).logs.String()), 0o600))
}

// webhookSink is a webhook server that keeps what it is posted. Its first
// answer is a 503, so every script sees a retry.
type webhookSink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	posts  int
	bodies []string
	more   chan struct{} // closed and replaced at each post
}

func newWebhookSink() *webhookSink {
	w := &webhookSink{more: make(chan struct{})}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.posts++
		if w.posts == 1 || r.Header.Get("Content-Type") != "application/json" {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.bodies = append(w.bodies, string(body))
		close(w.more)
		w.more = make(chan struct{})
	}))
	return w
}

// wait returns the bodies received once there are n, or those there are
// after timeout.
func (w *webhookSink) wait(n int, timeout time.Duration) ([]string, bool) {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		bodies, more := append([]string(nil), w.bodies...), w.more
		w.mu.Unlock()
		if len(bodies) >= n {
			return bodies, len(bodies) == n
		}
		select {
		case <-more:
		case <-deadline:
			return bodies, false
		}
	}
}
