package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	env := map[string]string{"PG_DSN": "postgres://u:p#x@h/db?sslmode=disable", "PORT_TTL": "30d"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		in      string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "Empty", in: "", check: func(t *testing.T, c *Config) {
			if c.Listen != DefaultListen || c.AdminListen != DefaultAdminListen || c.DataDir != DefaultDataDir || c.Store.Driver != "sqlite" {
				t.Errorf("defaults = %+v", c)
			}
			if time.Duration(c.Keys.DefaultTTL) != 90*24*time.Hour || time.Duration(c.Keys.MaxTTL) != 365*24*time.Hour || time.Duration(c.Keys.RotationGrace) != 24*time.Hour {
				t.Errorf("key defaults = %+v", c.Keys)
			}
		}},
		{name: "EnvExpansionKeepsSpecialCharacters", in: "store:\n  driver: postgres\n  dsn: ${PG_DSN}\n", check: func(t *testing.T, c *Config) {
			if c.Store.DSN != env["PG_DSN"] {
				t.Errorf("dsn = %q, want %q", c.Store.DSN, env["PG_DSN"])
			}
		}},
		{name: "InstanceID", in: "instance_id: gw-eu-1\n", check: func(t *testing.T, c *Config) {
			if c.InstanceID != "gw-eu-1" {
				t.Errorf("instance_id = %q, want gw-eu-1", c.InstanceID)
			}
		}},
		{name: "InstanceIDUnset", in: "", check: func(t *testing.T, c *Config) {
			if c.InstanceID != "" {
				t.Errorf("instance_id = %q, want empty (generated in the data directory)", c.InstanceID)
			}
		}},
		{name: "InstanceIDUppercase", in: "instance_id: GW-1\n", wantErr: "instance_id: instance id \"GW-1\": only a-z, 0-9 and '-' are allowed"},
		{name: "InstanceIDTooLong", in: "instance_id: " + strings.Repeat("a", 64) + "\n", wantErr: "instance_id: instance id"},
		{name: "Durations", in: "keys:\n  default_ttl: 20m\n  max_ttl: ${PORT_TTL}\n  rotation_grace: 0s\n", check: func(t *testing.T, c *Config) {
			if time.Duration(c.Keys.DefaultTTL) != 20*time.Minute || time.Duration(c.Keys.MaxTTL) != 30*24*time.Hour || c.Keys.RotationGrace != 0 {
				t.Errorf("keys = %+v", c.Keys)
			}
		}},
		{name: "ZeroMeansZero", in: "proxy: {key_cache_ttl: 0s}\n", check: func(t *testing.T, c *Config) {
			if c.Proxy.KeyCacheTTL != 0 || time.Duration(c.Keys.RotationGrace) != 24*time.Hour {
				t.Errorf("key_cache_ttl 0s = %v (want 0), rotation_grace unset = %v (want 24h)", c.Proxy.KeyCacheTTL, c.Keys.RotationGrace)
			}
		}},
		{name: "PublishDefaults", in: "", check: func(t *testing.T, c *Config) {
			if want := (Publish{Interval: Duration(10 * time.Second)}); c.Audit.Publish != want {
				t.Errorf("audit.publish = %+v, want %+v", c.Audit.Publish, want)
			}
		}},
		{name: "Publish", in: "audit:\n  publish: {dir: /mnt/witness, url: \"https://example.com/checkpoints\", interval: 30s}\n", check: func(t *testing.T, c *Config) {
			want := Publish{Dir: "/mnt/witness", URL: "https://example.com/checkpoints", Interval: Duration(30 * time.Second)}
			if c.Audit.Publish != want {
				t.Errorf("audit.publish = %+v, want %+v", c.Audit.Publish, want)
			}
		}},
		{name: "PublishURLNotHTTP", in: "audit: {publish: {url: \"ftp://example.com/x\"}}\n", wantErr: `audit.publish.url: "ftp://example.com/x" is not an http(s) URL`},
		{name: "PublishURLNoHost", in: "audit: {publish: {url: \"https:///x\"}}\n", wantErr: "audit.publish.url"},
		{name: "PublishIntervalNegative", in: "audit: {publish: {interval: -1s}}\n", wantErr: "audit.publish.interval: must be positive"},
		{name: "UnknownTopLevelField", in: "listen: :1\nlisen: :2\n", wantErr: `line 2: unknown field "lisen" in the top level`},
		{name: "UnknownNestedField", in: "store:\n  driver: sqlite\n  dns: x\n", wantErr: `line 3: unknown field "dns" in store`},
		{name: "UnsetVariable", in: "store:\n  driver: postgres\n  dsn: ${NOPE}\n", wantErr: "line 3: environment variable NOPE is not set"},
		{name: "BadDuration", in: "keys:\n  max_ttl: forever\n", wantErr: `line 2: invalid duration "forever"`},
		{name: "BadDriver", in: "store: {driver: mysql}\n", wantErr: `store.driver: "mysql" is not sqlite or postgres`},
		{name: "PostgresNeedsDSN", in: "store: {driver: postgres}\n", wantErr: "store.dsn: required"},
		{name: "DefaultOverMax", in: "keys: {default_ttl: 400d}\n", wantErr: "keys.default_ttl 400d is longer than keys.max_ttl 365d"},
		{name: "BadLevel", in: "log: {level: loud}\n", wantErr: `log.level: "loud"`},
		{name: "AuditDriverDefault", in: "", check: func(t *testing.T, c *Config) {
			if c.Audit.Driver != "file" {
				t.Errorf("audit.driver = %q, want file", c.Audit.Driver)
			}
		}},
		{name: "AuditBadDriver", in: "audit: {driver: s3}\n", wantErr: `audit.driver: "s3" is not file or postgres`},
		{name: "AuditPostgresNeedsStore", in: "audit: {driver: postgres, signing_key: k}\n", wantErr: "audit.driver: postgres needs store.driver postgres"},
		{name: "AuditPostgresNeedsKey", in: "store: {driver: postgres, dsn: x}\naudit: {driver: postgres}\n", wantErr: "audit.signing_key: required"},
		{name: "WrongType", in: "listen: [a, b]\n", wantErr: "line 1"},
		{name: "NotYAML", in: "listen: :1\n  - x: [\n", wantErr: "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), getenv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.in, err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"24h", 24 * time.Hour, true},
		{"20m", 20 * time.Minute, true},
		{"-1d", 0, false},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
