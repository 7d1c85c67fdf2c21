// Package config loads and validates scopegate's configuration file.
//
// The file is YAML and parsed strictly: an unknown field or a value of the
// wrong type is an error that names its line. Values may refer to the
// environment as ${NAME}, which is how secrets (database passwords,
// provider keys) stay out of the file; a reference to an unset variable is
// an error, not an empty string.
//
// Load returns a validated *Config with every default filled in, so the
// rest of scopegate never checks for zero values. No file at all is a valid
// configuration: the embedded mode on ./scopegate-data.
//
// See docs/configuration.md for every field.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/datadir"
)

// Defaults.
const (
	DefaultListen      = ":8080"
	DefaultAdminListen = "127.0.0.1:8081"
	DefaultDataDir     = "./scopegate-data"
	// DefaultMaxInFlight is proxy.max_in_flight when the file does not
	// set it.
	DefaultMaxInFlight = 1024
)

// Config is scopegate's configuration.
type Config struct {
	// Listen is the data plane's address.
	Listen string `yaml:"listen"`
	// AdminListen is the admin API's address. It defaults to loopback: the
	// admin API should be reached through an operator's own network path.
	AdminListen string `yaml:"admin_listen"`
	// DataDir holds the pepper, the SQLite store and the audit log.
	DataDir string `yaml:"data_dir"`
	// InstanceID names this replica in logs, metrics and /readyz: 1 to 63
	// characters of a-z, 0-9 and '-'. Empty means the id generated once and
	// kept in the data directory (datadir.Dir.InstanceID).
	InstanceID string `yaml:"instance_id"`
	Store      Store  `yaml:"store"`
	Keys       Keys   `yaml:"keys"`
	Log        Log    `yaml:"log"`
	Proxy      Proxy  `yaml:"proxy"`
	Audit      Audit  `yaml:"audit"`
	// Limits says how limits are enforced and their defaults.
	Limits Limits `yaml:"limits"`
	// Prices are what each model costs, by canonical model id; "*" prices
	// every model without an entry of its own. Cost limits need them.
	Prices map[string]Price `yaml:"prices"`
	// Anomaly sets the thresholds of the detectors; Alerts, what alerts do.
	Anomaly Anomaly `yaml:"anomaly"`
	Alerts  Alerts  `yaml:"alerts"`
	// Leaks configures the leak-response endpoints (docs/leaks.md).
	Leaks Leaks `yaml:"leaks"`
	// Upstreams are the providers requests are forwarded to, by name.
	Upstreams map[string]Upstream `yaml:"upstreams"`
	// Features are the capabilities keys are scoped to, by name. With no
	// features at all, the built-in default applies (see Builtin).
	Features map[string]Feature `yaml:"features"`
}

// Audit holds audit log settings.
type Audit struct {
	// Driver is "file" (default: segment files in the data directory,
	// one log per process) or "postgres" (cluster mode: every replica
	// appends to one log in the store's PostgreSQL database, sequenced and
	// signed by one elected replica). postgres needs store.driver postgres
	// and SigningKey.
	Driver string `yaml:"driver"`
	// SigningKey is the note signer key ("PRIVATE+KEY+…", from "scopegate
	// audit keygen") that signs the cluster log's checkpoints; every
	// replica holds it, since any may become the sequencer. Set it with
	// ${NAME}.
	SigningKey Secret `yaml:"signing_key"`
	// TruncateClientIPs records client addresses as their /24 (IPv4) or
	// /48 (IPv6) network.
	TruncateClientIPs bool `yaml:"truncate_client_ips"`
	// PseudonymizePrincipals records principals of data-plane events as an
	// HMAC pseudonym; admins compute a known principal's pseudonym with
	// GET /admin/v1/audit/pseudonym.
	PseudonymizePrincipals bool `yaml:"pseudonymize_principals"`
	// CheckpointInterval is how often a checkpoint is signed when the log
	// grew (default 1s).
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// AllowTruncated opens a log shorter than its last signed checkpoint,
	// recording an audit.override event. It is never read from the file:
	// only "serve --allow-truncated-audit", an operator's explicit act per
	// start, sets it.
	AllowTruncated bool `yaml:"-"`
	// Publish sends copies of the latest checkpoint off the machine.
	Publish Publish `yaml:"publish"`
}

// Publish is where the latest signed checkpoint is copied, so that a copy
// leaves the machine. Either destination may be empty; with both empty
// nothing is published.
type Publish struct {
	// Dir receives the files checkpoint (the latest) and
	// checkpoint-<size>.note, typically on a mount owned by someone else.
	Dir string `yaml:"dir"`
	// URL is POSTed each new checkpoint as text/plain; http or https.
	URL string `yaml:"url"`
	// Interval is how often a new checkpoint is looked for (default 10s).
	Interval Duration `yaml:"interval"`
}

// Proxy holds data-plane settings.
type Proxy struct {
	// MaxBodyBytes caps a request body (default 10 MiB); larger is 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// KeyCacheTTL is how long a key record is cached in memory (default
	// 5s; 0s turns the cache off). Changes made through this process's admin API take effect at
	// once; the TTL bounds staleness for changes made elsewhere.
	KeyCacheTTL Duration `yaml:"key_cache_ttl"`
	// PushGrace is how long a replica on the postgres store may be without
	// its change notifications (docs/cluster.md) before it stops caching
	// keys and reports not ready (default 2s). While the channel is down
	// for longer, every request reads the store.
	PushGrace Duration `yaml:"push_grace"`
	// BodyTimeout bounds the time a client takes to send a request body
	// (default 60s); a body still arriving after it is refused with 408
	// and the connection closed. Response streams are not bounded by it.
	BodyTimeout Duration `yaml:"body_timeout"`
	// ResponseIdleTimeout bounds how long a response may go without a
	// byte reaching the client once the upstream's headers have come
	// (default 5m): an upstream that stalls mid-stream, or a client that
	// stops reading, ends the call instead of holding it until the other
	// side closes. It is long by default because reasoning models may
	// think for minutes between two events.
	ResponseIdleTimeout Duration `yaml:"response_idle_timeout"`
	// MaxInFlight caps the data-plane requests handled at once (default
	// 1024; 0 means no cap). A request beyond it is answered 503 with
	// Retry-After before any other work.
	MaxInFlight int `yaml:"max_in_flight"`
}

// Store selects where keys and principals live.
type Store struct {
	// Driver is "sqlite" (default; a file in the data directory) or
	// "postgres".
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string, usually "${SCOPEGATE_PG_DSN}".
	DSN string `yaml:"dsn"`
}

// Keys holds the lifetime rules for keys.
type Keys struct {
	// DefaultTTL is the lifetime of a key created without one (90d).
	DefaultTTL Duration `yaml:"default_ttl"`
	// MaxTTL is the longest lifetime a key may have (365d).
	MaxTTL Duration `yaml:"max_ttl"`
	// RotationGrace is how long a rotated key keeps working by default
	// (24h; 0s stops it at once).
	RotationGrace Duration `yaml:"rotation_grace"`
}

// Log configures the JSON log on stderr.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	c := preset()
	c.setDefaults()
	if err := c.Validate(); err != nil {
		panic("config: built-in default is invalid: " + err.Error())
	}
	return c
}

// preset returns a Config holding the defaults of fields for which zero
// is a meaningful value ("rotation_grace: 0s" means no grace,
// "key_cache_ttl: 0s" no cache), so decoding the file overwrites them only
// where the file sets them. Other defaults fill zero values afterwards.
func preset() *Config {
	return &Config{
		Keys:  Keys{RotationGrace: Duration(24 * time.Hour)},
		Proxy: Proxy{KeyCacheTTL: Duration(5 * time.Second), MaxInFlight: DefaultMaxInFlight},
	}
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.AdminListen == "" {
		c.AdminListen = DefaultAdminListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Audit.Driver == "" {
		c.Audit.Driver = "file"
	}
	if c.Keys.DefaultTTL == 0 {
		c.Keys.DefaultTTL = Duration(90 * 24 * time.Hour)
	}
	if c.Keys.MaxTTL == 0 {
		c.Keys.MaxTTL = Duration(365 * 24 * time.Hour)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Audit.CheckpointInterval == 0 {
		c.Audit.CheckpointInterval = Duration(time.Second)
	}
	if c.Audit.Publish.Interval == 0 {
		c.Audit.Publish.Interval = Duration(10 * time.Second)
	}
	if c.Proxy.PushGrace == 0 {
		c.Proxy.PushGrace = Duration(2 * time.Second)
	}
	if c.Proxy.MaxBodyBytes == 0 {
		c.Proxy.MaxBodyBytes = 10 << 20
	}
	if c.Proxy.BodyTimeout == 0 {
		c.Proxy.BodyTimeout = Duration(60 * time.Second)
	}
	if c.Proxy.ResponseIdleTimeout == 0 {
		c.Proxy.ResponseIdleTimeout = Duration(5 * time.Minute)
	}
	if len(c.Features) == 0 && len(c.Upstreams) == 0 {
		c.Upstreams, c.Features = Builtin()
	}
	c.setLimitDefaults()
	c.setAlertDefaults()
}

// Builtin returns the upstreams and features used when the configuration
// declares none: the built-in mock upstream behind a "chat" feature, so
// that everything can be tried offline.
func Builtin() (map[string]Upstream, map[string]Feature) {
	return map[string]Upstream{
			"mock": {Kind: KindMock, TestKeys: true},
		}, map[string]Feature{
			"chat": {
				Description: "Built-in demo: the mock upstream, offline.",
				Audience:    "external",
				Upstream:    "mock",
				Endpoints:   []Endpoint{{Name: "chat.completions"}, {Name: "responses"}, {Name: "completions"}, {Name: "embeddings"}, {Name: "messages"}},
				Models:      []string{"mock-small", "mock-large", "mock-embed"},
			},
		}
}

// Load reads the file at path, expands ${NAME} references with getenv,
// parses it strictly, fills in defaults and validates it. An empty path
// means no file: the defaults.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse is Load for the file's contents.
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	c := preset()
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, cleanYAMLError(err)
	}
	if len(doc.Content) > 0 {
		// Unknown fields are checked on the tree, before expansion, so the
		// error names the line the operator wrote; values are expanded in
		// the tree, so a secret containing ':' or '#' stays one string.
		if err := checkFields(doc.Content[0], reflect.TypeFor[Config](), ""); err != nil {
			return nil, err
		}
		if err := expandNode(doc.Content[0], getenv); err != nil {
			return nil, err
		}
		if err := doc.Decode(c); err != nil {
			return nil, cleanYAMLError(err)
		}
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	return errors.New(msg)
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkFields reports the first mapping key in n that the type t has no
// field for, with its line and dotted path.
func checkFields(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown field %q in %s", k.Line, k.Value, section(path))
			}
			if err := checkFields(v, ft, join(path, k.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkFields(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if err := checkFields(item, t.Elem(), path+"[]"); err != nil {
				return err
			}
		}
	}
	return nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func section(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandNode replaces ${NAME} in every scalar under n with the variable's
// value. An unset or empty variable is an error naming its line: a missing
// secret must stop the start, not become an empty credential.
func expandNode(n *yaml.Node, getenv func(string) string) error {
	if n.Kind == yaml.ScalarNode {
		var errs []error
		orig := n.Value
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := envRef.FindStringSubmatch(m)[1]
			v := getenv(name)
			if v == "" {
				errs = append(errs, fmt.Errorf("line %d: environment variable %s is not set", n.Line, name))
			}
			return v
		})
		if n.Style == 0 && strings.Contains(orig, "${") {
			n.Tag = "" // let a plain ${PORT} resolve to a number again
		}
		return errors.Join(errs...)
	}
	var errs []error
	for _, c := range n.Content {
		errs = append(errs, expandNode(c, getenv))
	}
	return errors.Join(errs...)
}

// Validate checks values that parse but make no sense.
func (c *Config) Validate() error {
	var errs []error
	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.DSN == "" {
			errs = append(errs, errors.New("store.dsn: required when store.driver is postgres"))
		}
	default:
		errs = append(errs, fmt.Errorf("store.driver: %q is not sqlite or postgres", c.Store.Driver))
	}
	switch c.Audit.Driver {
	case "file":
	case "postgres":
		if c.Store.Driver != "postgres" {
			errs = append(errs, errors.New("audit.driver: postgres needs store.driver postgres"))
		}
		if c.Audit.SigningKey == "" {
			errs = append(errs, errors.New(`audit.signing_key: required when audit.driver is postgres (generate one with "scopegate audit keygen")`))
		}
	default:
		errs = append(errs, fmt.Errorf("audit.driver: %q is not file or postgres", c.Audit.Driver))
	}
	if c.Keys.DefaultTTL < 0 || c.Keys.MaxTTL < 0 || c.Keys.RotationGrace < 0 {
		errs = append(errs, errors.New("keys: durations must not be negative"))
	}
	if c.Keys.DefaultTTL > c.Keys.MaxTTL {
		errs = append(errs, fmt.Errorf("keys.default_ttl %s is longer than keys.max_ttl %s", c.Keys.DefaultTTL, c.Keys.MaxTTL))
	}
	if c.Proxy.MaxBodyBytes < 0 {
		errs = append(errs, errors.New("proxy.max_body_bytes: must not be negative"))
	}
	if c.Audit.CheckpointInterval < 0 {
		errs = append(errs, errors.New("audit.checkpoint_interval: must not be negative"))
	}
	errs = append(errs, c.Audit.Publish.validate()...)
	if c.Proxy.KeyCacheTTL < 0 {
		errs = append(errs, errors.New("proxy.key_cache_ttl: must not be negative"))
	}
	if c.Proxy.PushGrace < 0 {
		errs = append(errs, errors.New("proxy.push_grace: must not be negative"))
	}
	if c.Proxy.BodyTimeout < 0 {
		errs = append(errs, errors.New("proxy.body_timeout: must not be negative"))
	}
	if c.Proxy.ResponseIdleTimeout < 0 {
		errs = append(errs, errors.New("proxy.response_idle_timeout: must not be negative"))
	}
	if c.Proxy.MaxInFlight < 0 {
		errs = append(errs, errors.New("proxy.max_in_flight: must not be negative (0 means no cap)"))
	}
	errs = append(errs, c.validateUpstreams()...)
	errs = append(errs, c.validateFeatures()...)
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.validateAnomaly()...)
	errs = append(errs, c.Leaks.validate()...)
	if c.InstanceID != "" {
		if err := datadir.CheckInstanceID(c.InstanceID); err != nil {
			errs = append(errs, fmt.Errorf("instance_id: %w", err))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(errs...)
}

func (p Publish) validate() []error {
	var errs []error
	if p.Interval <= 0 {
		errs = append(errs, errors.New("audit.publish.interval: must be positive"))
	}
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("audit.publish.url: %q is not an http(s) URL", p.URL))
		}
	}
	return errs
}

// Duration is a time.Duration that reads Go durations ("24h", "20m") and
// whole days ("90d").
type Duration time.Duration

// ParseDuration parses a Go duration or a number of days such as "90d".
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (use e.g. 90d, 24h, 20m)", s)
	}
	return d, nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// String formats d, in days when it is a whole number of them.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}
