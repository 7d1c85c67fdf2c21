package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI tests are testscript files in testdata/*.txt. "exec scopegate"
// runs this test binary as the real command (TestMain dispatches on its
// name), talking over HTTP to a server the script starts in-process with
// the serve command below.

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"scopegate": func() {
			if err := run(context.Background(), os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
				os.Exit(1)
			}
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"serve":       cmdServe,
			"setenvjson":  cmdSetenvJSON,
			"auditappend": cmdAuditAppend,
			"flipbyte":    cmdFlipByte,
			"dropline":    cmdDropLine,
		},
		Setup: func(env *testscript.Env) error {
			// Under -race every exec'd scopegate would otherwise sleep a
			// second before exiting, which makes the scripts take minutes.
			// A race in it still fails the script, with exit status 66.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
	})
}

// serveTimeout bounds how long a script waits for the server to start or
// stop.
const serveTimeout = 30 * time.Second

// scriptNow is the server's clock in scripts: it stands still, so scripts
// can give and expect absolute times (a key created with --ttl 20m expires
// at 2026-11-28T12:20:00Z).
func scriptNow() time.Time { return time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC) }

// cmdServe starts "scopegate serve" in-process on free ports with a new
// data directory under $WORK and the test configuration (e2eFeatures),
// and points the script at it: SCOPEGATE_ADDR
// and SCOPEGATE_ADMIN_KEY (the first admin key, of principal "admin"),
// ADMIN_ADDR (the admin API's host:port alone) and DATA_ADDR (the data
// plane's). The server's clock is scriptNow. The
// server stops when the script ends.
//
//	serve
func cmdServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: serve")
	}
	cfgPath := ts.MkAbs("scopegate-test.yaml")
	ts.Check(os.WriteFile(cfgPath, []byte(e2eFeatures), 0o600))
	logs := &lockedBuffer{}
	started := make(chan serveInfo, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{getenv: ts.Getenv, stdin: strings.NewReader(""), stdout: logs, stderr: logs,
		hooks: &testHooks{now: scriptNow, started: started}}
	argv := []string{"scopegate", "serve", "--config", cfgPath, "--data-dir", ts.MkAbs("scopegate-data"),
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	go func() { done <- runWithHooks(ctx, argv, e) }()
	ts.Defer(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				ts.Logf("serve: %v", err)
			}
		case <-time.After(serveTimeout):
			ts.Logf("serve did not stop within %s", serveTimeout)
		}
	})
	var info serveInfo
	select {
	case info = <-started:
	case err := <-done:
		ts.Fatalf("serve exited before it started: %v\n%s", err, logs)
	case <-time.After(serveTimeout):
		ts.Fatalf("serve did not start within %s\n%s", serveTimeout, logs)
	}
	if info.AdminKey == "" {
		ts.Fatalf("serve on a new data directory reported no admin key\n%s", logs)
	}
	ts.Setenv("SCOPEGATE_ADDR", "http://"+info.AdminAddr)
	ts.Setenv("SCOPEGATE_ADMIN_KEY", info.AdminKey)
	ts.Setenv("ADMIN_ADDR", info.AdminAddr)
	ts.Setenv("DATA_ADDR", info.DataAddr)
}

// cmdSetenvJSON sets an environment variable to a string or number in a
// JSON file, so a script can use what an "-o json" command printed, such
// as a new key or its id. The path is dot-separated; numbers index arrays.
//
//	setenvjson VAR file path
//	setenvjson KEY key.json key
//	setenvjson FIRST list.json items.0.id
func cmdSetenvJSON(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setenvjson VAR file path")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[1])), &v))
	for step := range strings.SplitSeq(args[2], ".") {
		var err error
		if v, err = jsonStep(v, step); err != nil {
			ts.Fatalf("%s: %s: %v", args[1], args[2], err)
		}
	}
	switch v := v.(type) {
	case string:
		ts.Setenv(args[0], v)
	case float64:
		ts.Setenv(args[0], strconv.FormatFloat(v, 'f', -1, 64))
	default:
		ts.Fatalf("%s: %s is %T, not a string or number", args[1], args[2], v)
	}
}

// jsonStep returns the member step of an object, or the element at index
// step of an array.
func jsonStep(v any, step string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		m, ok := v[step]
		if !ok {
			return nil, fmt.Errorf("no field %q", step)
		}
		return m, nil
	case []any:
		i, err := strconv.Atoi(step)
		if err != nil || i < 0 || i >= len(v) {
			return nil, fmt.Errorf("no element %q in an array of %d", step, len(v))
		}
		return v[i], nil
	}
	return nil, fmt.Errorf("cannot take %q of %T", step, v)
}

// lockedBuffer collects the server's logs, which it writes concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
