package main

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/proxy"
)

// gitleaksRule is what the tests read of a rule in contrib/gitleaks.toml.
type gitleaksRule struct {
	id, regex, description string
	keywords               []string
	allow                  []string // allowlist regexes
}

// readGitleaksRules extracts the rules of contrib/gitleaks.toml with a
// purpose-written reader (the module has no TOML parser): it knows only
// the lines the file uses, and fails on a rule it cannot read whole.
func readGitleaksRules(t *testing.T) map[string]*gitleaksRule {
	t.Helper()
	b, err := os.ReadFile("../../contrib/gitleaks.toml")
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*gitleaksRule{}
	var cur *gitleaksRule
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		name, value, ok := strings.Cut(line, " = ")
		switch {
		case line == "[[rules]]":
			cur = &gitleaksRule{}
		case !ok || cur == nil:
		case name == "id":
			cur.id = strings.Trim(value, `"`)
			rules[cur.id] = cur
		case name == "description" && cur.description == "":
			cur.description = strings.Trim(value, `"`)
		case name == "regex":
			cur.regex = strings.TrimSuffix(strings.TrimPrefix(value, "'''"), "'''")
		case name == "keywords":
			for k := range strings.SplitSeq(strings.Trim(value, "[]"), ",") {
				cur.keywords = append(cur.keywords, strings.Trim(strings.TrimSpace(k), `"`))
			}
		case name == "regexes":
			cur.allow = append(cur.allow, strings.TrimSuffix(strings.TrimPrefix(value, "['''"), "''']"))
		}
	}
	return rules
}

func TestGitleaksRules(t *testing.T) {
	rules := readGitleaksRules(t)
	for _, c := range []struct {
		id      string
		class   apikey.Class
		keyword string
	}{{"scopegate-data-key", apikey.ClassData, "sgk_"}, {"scopegate-admin-key", apikey.ClassAdmin, "sga_"}} {
		t.Run(c.id, func(t *testing.T) {
			r := rules[c.id]
			if r == nil {
				t.Fatalf("no rule %s in contrib/gitleaks.toml", c.id)
			}
			if len(r.keywords) != 1 || r.keywords[0] != c.keyword {
				t.Errorf("keywords = %q, want [%q]", r.keywords, c.keyword)
			}
			if !strings.Contains(r.description, "checksum") {
				t.Errorf("description does not mention the checksum: %q", r.description)
			}
			// gitleaks compiles rules with Go's regexp (RE2), as here.
			re := regexp.MustCompile(r.regex)
			allow := make([]*regexp.Regexp, len(r.allow))
			for i, a := range r.allow {
				allow[i] = regexp.MustCompile(a)
			}
			found := func(text string) bool {
				m := re.FindStringSubmatch(text)
				if m == nil {
					return false
				}
				for _, a := range allow {
					if a.MatchString(m[0]) {
						return false
					}
				}
				return true
			}
			t.Run("generated keys match", func(t *testing.T) {
				for i := range 100 {
					env := apikey.EnvLive
					if i%2 == 1 {
						env = apikey.EnvTest
					}
					k, err := apikey.Generate(nil, c.class, env)
					if err != nil {
						t.Fatal(err)
					}
					text := k.Secret.Reveal()
					if !found(text) {
						t.Fatalf("rule does not match generated key %s", text)
					}
					// In context: a config line, a shell export, JSON.
					for _, s := range []string{"api_key: " + text + "\n", "export KEY=" + text, `{"key":"` + text + `"}`} {
						if m := re.FindStringSubmatch(s); m == nil || m[1] != text {
							t.Fatalf("rule does not extract the key from %q: %q", s, m)
						}
					}
				}
			})
			k, err := apikey.Generate(nil, c.class, apikey.EnvLive)
			if err != nil {
				t.Fatal(err)
			}
			good := k.Secret.Reveal()
			other := "sga_"
			if c.class == apikey.ClassAdmin {
				other = "sgk_"
			}
			for name, text := range map[string]string{
				"one character short":  good[:len(good)-1],
				"one character long":   good + "A",
				"id too short":         good[:9] + good[10:],
				"other class prefix":   other + good[4:],
				"unknown prefix":       "sgx_" + good[4:],
				"unknown env":          good[:4] + "prod" + good[8:],
				"non-base62 character": good[:20] + "-" + good[21:],
				"placeholder id":       good[:9] + strings.Repeat("0", 16) + good[25:],
			} {
				if found(text) {
					t.Errorf("%s: rule matches %s", name, text)
				}
			}
		})
	}
}

// TestGitleaksRulesCannotCheckChecksum documents the regex's limit: a key
// whose checksum is wrong has the right shape and matches. apikey.Parse,
// which every endpoint runs first, refuses it; TruffleHog's verification
// says it is not live.
func TestGitleaksRulesCannotCheckChecksum(t *testing.T) {
	re := regexp.MustCompile(readGitleaksRules(t)["scopegate-data-key"].regex)
	k, err := apikey.Generate(nil, apikey.ClassData, apikey.EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	good := k.Secret.Reveal()
	last := byte('A')
	if good[len(good)-1] == 'A' {
		last = 'B'
	}
	bad := good[:len(good)-1] + string(last)
	if !re.MatchString(bad) {
		t.Errorf("the regex refuses a wrong checksum; update docs/leaks.md and contrib/gitleaks.toml, which say it cannot")
	}
	if _, err := apikey.Parse(bad); err == nil {
		t.Errorf("apikey.Parse accepts a key with a wrong checksum")
	}
}

// TestTruffleHogDetector checks contrib/trufflehog.yaml: its keywords, that
// its regex finds generated data and admin keys and nothing of the wrong
// shape, and that it verifies against the data plane's verify endpoint.
// Like gitleaks, its regex cannot check the checksum: verification does.
func TestTruffleHogDetector(t *testing.T) {
	b, err := os.ReadFile("../../contrib/trufflehog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Detectors []struct {
			Name     string            `yaml:"name"`
			Keywords []string          `yaml:"keywords"`
			Regex    map[string]string `yaml:"regex"`
			Verify   []struct {
				Endpoint string   `yaml:"endpoint"`
				Unsafe   bool     `yaml:"unsafe"`
				Headers  []string `yaml:"headers"`
			} `yaml:"verify"`
		} `yaml:"detectors"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Detectors) != 1 {
		t.Fatalf("%d detectors, want 1", len(f.Detectors))
	}
	d := f.Detectors[0]
	if !slices.Equal(d.Keywords, []string{"sgk_", "sga_"}) {
		t.Errorf("keywords = %q", d.Keywords)
	}
	if len(d.Verify) != 1 || !strings.HasSuffix(d.Verify[0].Endpoint, proxy.PathVerifyLeak) || d.Verify[0].Unsafe ||
		len(d.Verify[0].Headers) != 1 || !strings.HasPrefix(d.Verify[0].Headers[0], "Authorization: Bearer ") {
		t.Errorf("verify = %+v, want the verify-leak endpoint over https with a bearer token", d.Verify)
	}
	re := regexp.MustCompile(d.Regex["key"])
	for _, class := range []apikey.Class{apikey.ClassData, apikey.ClassAdmin} {
		for _, env := range []apikey.Env{apikey.EnvLive, apikey.EnvTest} {
			for range 25 {
				k, err := apikey.Generate(nil, class, env)
				if err != nil {
					t.Fatal(err)
				}
				text := k.Secret.Reveal()
				if m := re.FindStringSubmatch("token=" + text + "\n"); m == nil || m[1] != text {
					t.Fatalf("regex does not find %s: %q", text, m)
				}
				for _, bad := range []string{text[:len(text)-1], "sgx_" + text[4:], text[:4] + "prod" + text[8:]} {
					if re.MatchString(bad) {
						t.Errorf("regex matches %s", bad)
					}
				}
			}
		}
	}
}
