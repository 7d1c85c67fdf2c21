package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scopegate/scopegate/internal/loadgen"
)

// benchFlags are the flags of bench.
type benchFlags struct {
	url, scenario, path      string
	key, keysFile, adminKey  string
	model, deniedModel       string
	principal                string
	scopes, headers          []string
	maxTokens, expectStatus  int
	rate                     float64
	concurrency, maxInFlight int
	duration, warmup         time.Duration
	timeout                  time.Duration
	jsonOut                  string
	quiet                    bool
}

func (b *benchFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&b.url, "url", "http://127.0.0.1:8080", "base URL of the target: scopegate's data plane (or admin API for admin-keys), an upstream, another gateway")
	fs.StringVar(&b.scenario, "scenario", string(loadgen.ScenarioChat), "what to send: "+scenarioNames())
	fs.StringVar(&b.path, "path", "", "request path instead of the scenario's (/v1/chat/completions, /admin/v1/keys)")
	fs.StringVar(&b.key, "key", "", "data-plane key sent as Authorization: Bearer (default $SCOPEGATE_BENCH_KEY)")
	fs.StringVar(&b.keysFile, "keys-file", "", "mix: file of keys, one a line, one chosen at random per request")
	fs.StringVar(&b.adminKey, "admin-key", "", "admin-keys: admin key (default $SCOPEGATE_ADMIN_KEY)")
	fs.StringVar(&b.principal, "principal", "", "admin-keys: principal the keys are created for")
	fs.StringSliceVar(&b.scopes, "scope", []string{"chat"}, "admin-keys: scopes of the created keys")
	fs.StringVar(&b.model, "model", "mock-small", "model of chat, stream and mix")
	fs.StringVar(&b.deniedModel, "denied-model", "mock-large", "denied: a model the key is not scoped for")
	fs.IntVar(&b.maxTokens, "max-tokens", 16, "max_tokens of the chat scenarios")
	fs.StringArrayVarP(&b.headers, "header", "H", nil, `extra request header "Name: value" (repeatable)`)
	fs.IntVar(&b.expectStatus, "expect-status", 0, "status that counts as ok (default: 200; 403 for denied; 201 for admin-keys)")
	fs.Float64Var(&b.rate, "rate", 0, "open loop: requests per second at fixed intended times; 0 is closed loop")
	fs.IntVar(&b.concurrency, "concurrency", 1, "closed loop: workers sending back to back")
	fs.IntVar(&b.maxInFlight, "max-in-flight", loadgen.DefaultMaxInFlight, "open loop: most requests in flight; a request due beyond it is counted as dropped")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&b.warmup, "warmup", time.Second, "time sent before the measured time, not measured")
	fs.DurationVar(&b.timeout, "timeout", loadgen.DefaultTimeout, "limit for each request, answer included")
	fs.StringVar(&b.jsonOut, "json", "", `write the JSON summary to this file ("-": stdout, and the text summary goes to stderr)`)
	fs.BoolVarP(&b.quiet, "quiet", "q", false, "no progress line on stderr")
}

func scenarioNames() string {
	var names []string
	for _, s := range loadgen.Scenarios() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}

// target builds the scenario's request from the flags and the environment.
func (b *benchFlags) target(e *env) (*loadgen.Target, error) {
	o := loadgen.ScenarioOptions{BaseURL: b.url, Path: b.path, Key: b.key, AdminKey: b.adminKey,
		Model: b.model, DeniedModel: b.deniedModel, MaxTokens: b.maxTokens,
		Principal: b.principal, Scopes: b.scopes, ExpectStatus: b.expectStatus, Header: http.Header{}}
	if o.Key == "" {
		o.Key = e.getenv("SCOPEGATE_BENCH_KEY")
	}
	if o.AdminKey == "" {
		o.AdminKey = e.getenv("SCOPEGATE_ADMIN_KEY")
	}
	for _, h := range b.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--header %q: want \"Name: value\"", h)
		}
		o.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if b.keysFile != "" {
		keys, err := readKeys(b.keysFile)
		if err != nil {
			return nil, err
		}
		o.Keys = keys
	}
	return loadgen.NewTarget(loadgen.Scenario(b.scenario), o)
}

// readKeys reads a keys file: one key a line; blank lines and lines
// starting with # are skipped.
func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys file: %w", err)
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k := strings.TrimSpace(sc.Text()); k != "" && !strings.HasPrefix(k, "#") {
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keys file %s: no keys", path)
	}
	return keys, nil
}

func newBenchCmd(e *env) *cobra.Command {
	var b benchFlags
	cmd := &cobra.Command{
		Use:   "bench [--scenario NAME] [--rate N | --concurrency C] [--duration D] [flags]",
		Short: "Send load to a gateway or an upstream and report latency percentiles",
		Long: `bench sends one scenario's request to --url for --warmup, then measures it
for --duration, and prints a summary: requests, errors by kind, the rate
achieved, and latency percentiles (p50, p90, p99, p99.9, max, mean).

With --rate N (open loop) request i is due at start + i/N whatever the
target does, and its latency is measured from that intended time, so a
stall of the target shows in every request it delayed. A request due while
--max-in-flight requests are in flight is counted as dropped. With --rate 0
(closed loop, the default) --concurrency workers send back to back.

Scenarios:
  chat        POST /v1/chat/completions, --model, max_tokens --max-tokens; 200 is ok
  stream      the same with "stream":true; ttfb is the first body byte, and
              a stream must end with "data: [DONE]" (else incomplete_stream)
  denied      a chat completion for --denied-model, which the key must not be
              scoped for; 403 is ok, anything else an error
  mix         chat with a key chosen at random per request from --keys-file
  admin-keys  POST /admin/v1/keys for --principal with --scope, authenticated
              with --admin-key; 201 is ok. --url is then the admin API

--key (or SCOPEGATE_BENCH_KEY) is sent as "Authorization: Bearer"; -H adds
headers, and --path changes the path, to drive another gateway or an
upstream directly. A progress line goes to stderr every second (--quiet
stops it); --json FILE writes the summary as JSON. "bench seed" creates
many keys in a stopped data directory, for mix.`,
		Example: `  scopegate bench --url http://127.0.0.1:9090 --rate 1000 --duration 30s
  SCOPEGATE_BENCH_KEY=sgk_live_… scopegate bench --rate 1000 --json gateway.json
  scopegate bench --scenario stream --concurrency 8 --key sgk_live_…
  scopegate bench --scenario mix --keys-file keys.txt --rate 2000
  scopegate bench --scenario admin-keys --url http://127.0.0.1:8081 --principal bench --rate 50`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := b.target(e)
			if err != nil {
				return err
			}
			cfg := loadgen.Config{Target: t, Rate: b.rate, Concurrency: b.concurrency, MaxInFlight: b.maxInFlight,
				Warmup: b.warmup, Duration: b.duration, Timeout: b.timeout, Version: toolVersion()}
			if !b.quiet {
				cfg.Progress = e.stderr
			}
			s, err := loadgen.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return b.report(e, s)
		},
	}
	b.register(cmd.Flags())
	cmd.AddCommand(newBenchSeedCmd(e))
	return cmd
}

// report writes the text summary, and the JSON one if asked. With
// --json - the JSON goes to stdout and the text to stderr, so stdout can
// be piped to a JSON tool.
func (b *benchFlags) report(e *env, s *loadgen.Summary) error {
	text := e.stdout
	if b.jsonOut == "-" {
		text = e.stderr
	}
	if err := s.WriteText(text); err != nil {
		return err
	}
	switch b.jsonOut {
	case "":
		return nil
	case "-":
		return s.WriteJSON(e.stdout)
	}
	return writeFileWith(b.jsonOut, 0o644, s.WriteJSON)
}

// writeFileWith creates path with mode perm and writes it with write.
func writeFileWith(path string, perm os.FileMode, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if err := errors.Join(write(f), f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// toolVersion is the binary's module version and VCS revision, as far as
// the build recorded them.
func toolVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var v strings.Builder
	v.WriteString(bi.Main.Version)
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v.WriteString(" " + s.Value[:12])
		}
	}
	return v.String()
}
