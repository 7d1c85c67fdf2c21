package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/datadir"
	"github.com/scopegate/scopegate/internal/metrics/metricstest"
)

// checkInstance checks that g names itself id in its /metrics gauge, in
// the header of /readyz, and on its log lines.
func checkInstance(t *testing.T, g *gateway, id string) {
	t.Helper()
	s := metricstest.Fetch(t, "http://"+g.info.AdminAddr+"/metrics")
	if got := s.Sum("scopegate_instance_info", "instance_id", id); got != 1 {
		t.Errorf(`scopegate_instance_info{instance_id=%q} = %v, want 1`, id, got)
	}
	resp, err := http.Get("http://" + g.info.AdminAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(instanceHeader); got != id {
		t.Errorf("/readyz %s = %q, want %q", instanceHeader, got, id)
	}
	if want := `"msg":"scopegate serving","instance":"` + id + `"`; !strings.Contains(g.logs.String(), want) {
		t.Errorf("log has no line containing %s:\n%s", want, g.logs)
	}
}

// TestInstanceIDGenerated: a replica without instance_id makes one on its
// first start, keeps it in its data directory, and finds it again on the
// next start.
func TestInstanceIDGenerated(t *testing.T) {
	g := startServe(t, e2eFeatures, nil)
	b, err := os.ReadFile(filepath.Join(g.dataDir, datadir.InstanceFile))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(b))
	if !regexp.MustCompile(`^sg-[a-z2-7]{10}$`).MatchString(id) {
		t.Fatalf("generated instance id %q, want sg- and 10 base32 characters", id)
	}
	checkInstance(t, g, id)
	g.stop()

	again := startServeIn(t, g.dataDir, e2eFeatures, nil)
	checkInstance(t, again, id)
}

func TestInstanceIDConfigured(t *testing.T) {
	g := startServe(t, e2eFeatures+"instance_id: ${POD_NAME}\n", map[string]string{"POD_NAME": "scopegate-7d9f8b6c5-x2x4z"})
	checkInstance(t, g, "scopegate-7d9f8b6c5-x2x4z")
	if _, err := os.Stat(filepath.Join(g.dataDir, datadir.InstanceFile)); !os.IsNotExist(err) {
		t.Errorf("a configured instance id wrote %s (stat: %v)", datadir.InstanceFile, err)
	}
}

func TestInstanceIDInvalid(t *testing.T) {
	_, _, err := runCLI(t, map[string]string{"POD_NAME": "Pod_1"}, "serve", "--data-dir", t.TempDir(),
		"--config", writeConfig(t, e2eFeatures+"instance_id: ${POD_NAME}\n"), "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), `instance_id: instance id "Pod_1"`) {
		t.Errorf("serve with instance_id Pod_1 = %v, want a config error", err)
	}
}

// startServeIn starts serve on the data directory of a gateway that has
// stopped, as a restart of the same replica.
func startServeIn(t *testing.T, dataDir, cfgText string, vars map[string]string) *gateway {
	t.Helper()
	g := &gateway{t: t, dataDir: dataDir, clock: newTestClock(), logs: &syncBuffer{}, done: make(chan error, 1)}
	args := []string{"scopegate", "serve", "--config", writeConfig(t, cfgText), "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}
	launchServe(t, g, args, vars, &testHooks{})
	return g
}
