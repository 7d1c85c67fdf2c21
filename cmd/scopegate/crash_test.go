//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scopegate/scopegate/internal/audit/auditverify"
)

// The crash test's bounds: kills, concurrent clients, and how long the
// load runs before each kill.
const (
	crashKills      = 6
	crashClients    = 16
	crashMinLoad    = 20 * time.Millisecond
	crashMaxLoad    = 300 * time.Millisecond
	crashReadyLimit = 15 * time.Second
)

// TestCrashRecovery kills a real gateway process with SIGKILL under load
// at random moments and restarts it each time. The log must verify as
// every crash left it and at the end, and every request the upstream
// received (by its own ledger) must have its authz allow event: the event
// is durable before a request is forwarded, crash or not.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds scopegate and kills it repeatedly; skipped with -short")
	}
	bin := buildScopegate(t)
	up := newLedgerUpstream(t)
	dataDir := t.TempDir()
	addrs := freeAddrs(t, 2)
	dataAddr, adminAddr := addrs[0], addrs[1]
	cfgPath := filepath.Join(t.TempDir(), "scopegate.yaml")
	cfg := fmt.Sprintf("listen: %q\nadmin_listen: %q\ndata_dir: %q\nlog:\n  level: warn\n", dataAddr, adminAddr, dataDir) +
		ledgerFeatures(up.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	adminKey := initDataDir(t, bin, cfgPath, dataDir)
	api := &gateway{t: t, info: serveInfo{DataAddr: dataAddr, AdminAddr: adminAddr}}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>32))

	var (
		dataKey        string
		sent, answered atomic.Int64
		torn, tore     int   // torn tails the kills left, and those the test added
		verified       int64 // records of the last crashed log that verified
	)
	for kill := range crashKills {
		p := startServeProcess(t, bin, cfgPath, adminAddr)
		if kill > 0 {
			checkRecovered(t, dataDir, verified)
		}
		if kill == 0 {
			dataKey = createChatKey(api, adminKey)
		}
		l := startLoad(dataAddr, dataKey, &sent, &answered)
		wait := crashMinLoad + time.Duration(rng.Int64N(int64(crashMaxLoad-crashMinLoad)))
		select {
		case <-time.After(wait):
		case <-p.exited:
			l.stop()
			t.Fatalf("serve exited under load before kill %d: %v\n%s", kill+1, p.err, p.logs.String())
		}
		p.kill(t)
		l.stop()

		// The log as the crash left it verifies: an unterminated last
		// line is a write in progress, not a record.
		rep := verifyAuditDir(t, dataDir)
		if rep.Records < verified {
			t.Fatalf("kill %d: the log holds %d records, fewer than the %d it held after the previous crash", kill+1, rep.Records, verified)
		}
		verified = rep.Records
		if tornTail(t, dataDir) {
			torn++
		}
		// A SIGKILL seldom tears a line (the kernel finishes a write
		// that began), a power cut can: every other crash gets a torn
		// tail, which the restart must cut, and nothing more.
		if kill%2 == 1 {
			tearTail(t, dataDir, verified)
			tore++
		}
	}

	// The last restart recovers the last crash; then a graceful stop.
	p := startServeProcess(t, bin, cfgPath, adminAddr)
	checkRecovered(t, dataDir, verified)
	code, body := api.do("POST", "http://"+dataAddr+"/v1/chat/completions", dataKey, nil, chatBody)
	if code != http.StatusOK {
		t.Errorf("chat completion after the last restart = %d %s, want 200", code, body)
	}
	p.terminate(t)

	rep := verifyAuditDir(t, dataDir)
	if rep.Uncovered != 0 || rep.CheckpointSize != rep.Records {
		t.Errorf("after a graceful stop verify reports %+v, want every record covered by the last checkpoint", rep)
	}
	log := readAuditLog(t, dataDir)
	events := checkRecords(t, log, rep.Records)
	n, ledger := up.received()
	if n != len(ledger) {
		t.Errorf("the upstream received %d requests but %d distinct request ids: a request was forwarded twice, or without its id", n, len(ledger))
	}
	allowed := allowedRequests(t, log)
	var missing []string
	for id := range ledger {
		if _, ok := allowed[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("the upstream received %d requests without an authz allow event in the log: %q", len(missing), missing[:min(len(missing), 10)])
	}
	if len(ledger) == 0 || answered.Load() == 0 {
		t.Errorf("the load reached nothing: %d requests sent, %d answered 200, upstream ledger %d", sent.Load(), answered.Load(), len(ledger))
	}
	t.Logf("%d kills (%d left a torn last line, %d more torn by the test), %d requests sent, %d answered 200, upstream received %d; "+
		"log: %d records, %d authz allow, %d usage",
		crashKills, torn, tore, sent.Load(), answered.Load(), n, rep.Records, events["authz allow"], events["usage"])
}

// buildScopegate builds the scopegate binary into a temporary directory
// with the go command on PATH.
func buildScopegate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scopegate")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago. The crash test needs fixed ports: clients and the test reach every
// restart at the same addresses.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so they differ
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}

// initDataDir runs "scopegate init" and returns the admin key it prints.
func initDataDir(t *testing.T, bin, cfgPath, dataDir string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "init", "--config", cfgPath, "--data-dir", dataDir)
	cmd.Env = []string{}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scopegate init: %v\n%s", err, stderr.String())
	}
	key := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(key, "sga_") {
		t.Fatalf("scopegate init printed %q, want an admin key", key)
	}
	return key
}

// serveProcess is "scopegate serve" running as a child process in its own
// process group.
type serveProcess struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // Wait's result, once exited is closed
}

// startServeProcess starts serve and waits until its /readyz answers 200,
// which it does only once the audit log is recovered and open.
func startServeProcess(t *testing.T, bin, cfgPath, adminAddr string) *serveProcess {
	t.Helper()
	p := &serveProcess{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	p.cmd.Env = []string{}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.kill(t)
		}
	})

	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(crashReadyLimit)
	for {
		select {
		case <-p.exited:
			t.Fatalf("serve exited before it was ready: %v\n%s", p.err, p.logs.String())
		case <-deadline:
			t.Fatalf("serve was not ready within %v\n%s", crashReadyLimit, p.logs.String())
		case <-tick.C:
		}
		resp, err := client.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return p
		}
	}
}

// kill sends SIGKILL to the process group and waits for the process to go.
func (p *serveProcess) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Errorf("kill serve: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGKILL")
	}
}

// terminate stops serve with SIGTERM and checks that it exits cleanly.
func (p *serveProcess) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop serve: %v", err)
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop after SIGTERM\n%s", p.logs.String())
	}
	if p.err != nil {
		t.Errorf("serve exited with %v after SIGTERM\n%s", p.err, p.logs.String())
	}
}

// load is crashClients clients sending chat completions in a loop until
// stopped. Their errors are ignored: at a kill they are expected, and only
// the upstream's ledger matters.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tr     *http.Transport
}

func startLoad(dataAddr, key string, sent, answered *atomic.Int64) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, tr: &http.Transport{MaxIdleConnsPerHost: crashClients}}
	client := &http.Client{Transport: l.tr, Timeout: 10 * time.Second}
	url := "http://" + dataAddr + "/v1/chat/completions"
	for range crashClients {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(chatBody))
				if err != nil {
					return
				}
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					answered.Add(1)
				}
			}
		})
	}
	return l
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	l.tr.CloseIdleConnections()
}

// verifyAuditDir verifies the data directory's audit log with its
// verifier key.
func verifyAuditDir(t *testing.T, dataDir string) auditverify.Report {
	t.Helper()
	dir := filepath.Join(dataDir, "audit")
	vkey, err := os.ReadFile(filepath.Join(dir, "verifier.key"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := auditverify.Verify(t.Context(), dir, strings.TrimSpace(string(vkey)), auditverify.VerifyOptions{})
	if err != nil {
		t.Fatalf("audit log does not verify: %v", err)
	}
	return rep
}

// tornTail reports whether the last segment ends in an unterminated line.
func tornTail(t *testing.T, dataDir string) bool {
	t.Helper()
	b, err := os.ReadFile(lastSegment(t, dataDir))
	if err != nil {
		t.Fatal(err)
	}
	return len(b) > 0 && b[len(b)-1] != '\n'
}

// lastSegment returns the path of the audit log's last segment file.
func lastSegment(t *testing.T, dataDir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dataDir, "audit", "segments", "*.jsonl"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no audit segments (%v)", err)
	}
	return slices.Max(segs)
}

// tearTail appends the first part of record idx, without its newline, to
// the last segment: what a write cut short leaves.
func tearTail(t *testing.T, dataDir string, idx int64) {
	t.Helper()
	f, err := os.OpenFile(lastSegment(t, dataDir), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, `{"v":1,"idx":%d,"ts":"2026-11-28T12:00:00.000Z","event":"authz","req":"tor`, idx); err != nil {
		t.Fatal(err)
	}
}

// checkRecovered checks, right after a restart and before any traffic,
// that recovery kept exactly the records that verified after the crash and
// cut whatever followed them.
func checkRecovered(t *testing.T, dataDir string, records int64) {
	t.Helper()
	log := readAuditLog(t, dataDir)
	n := int64(bytes.Count(log, []byte("\n")))
	torn := len(log) > 0 && log[len(log)-1] != '\n'
	if n != records || torn {
		t.Fatalf("after the restart the log holds %d records (and a torn last line: %v), want exactly the %d that verified after the crash",
			n, torn, records)
	}
}

// checkRecords checks that the log holds want records, numbered 0 to
// want-1 in order, and counts them by event (authz ones also by decision).
func checkRecords(t *testing.T, log []byte, want int64) map[string]int {
	t.Helper()
	if len(log) > 0 && log[len(log)-1] != '\n' {
		t.Errorf("after a graceful stop the log ends in an unterminated line")
	}
	counts := map[string]int{}
	var n int64
	for line := range bytes.Lines(log) {
		var e struct {
			Idx             int64
			Event, Decision string
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("record %d is not JSON: %v: %s", n, err, line)
		}
		if e.Idx != n {
			t.Fatalf("record %d has idx %d", n, e.Idx)
		}
		name := e.Event
		if e.Event == "authz" {
			name += " " + e.Decision
		}
		counts[name]++
		n++
	}
	if n != want {
		t.Errorf("the log holds %d records (last idx %d), verify counted %d", n, n-1, want)
	}
	return counts
}
