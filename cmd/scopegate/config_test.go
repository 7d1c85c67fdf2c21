package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/store/postgres"
	"github.com/scopegate/scopegate/internal/testenv"
)

// exampleEnv returns the environment the example config refers to, with
// the credential file it names written under a temporary directory.
func exampleEnv(t *testing.T) func(string) string {
	t.Helper()
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, "anthropic-api-key"), []byte("sk-ant-test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPENAI_API_KEY": "sk-test", "AZURE_OPENAI_API_KEY": "azure-test", "CREDENTIALS_DIRECTORY": creds}
	return func(name string) string { return env[name] }
}

// The example must stay valid as the config grows.
func TestExampleConfigParses(t *testing.T) {
	cfg, err := config.Parse(exampleConfig, exampleEnv(t))
	if err != nil {
		t.Fatalf("config.Parse(example) = %v", err)
	}
	if got := cfg.Upstreams["claude"].APIKey.Reveal(); got != "sk-ant-test" {
		t.Errorf("claude's api_key_file gave %q, want the file's contents", got)
	}
	if got := cfg.Upstreams["openai"].APIKey.Reveal(); got != "sk-test" {
		t.Errorf("openai's api_key gave %q, want $OPENAI_API_KEY", got)
	}
}

// The example must show every field of config.Config, so that a field
// added to the code without a line in the example fails here.
func TestExampleConfigCoversEveryField(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(exampleConfig, &doc); err != nil {
		t.Fatal(err)
	}
	missing := missingFields(reflect.TypeFor[config.Config](), doc.Content, "")
	if len(missing) > 0 {
		t.Errorf("the example config does not set %s", strings.Join(missing, ", "))
	}
}

// The fields reflection cannot see into (endpoints read by a custom
// unmarshaler) and the variants of one field must all be shown.
func TestExampleConfigCoversEveryVariant(t *testing.T) {
	cfg, err := config.Parse(exampleConfig, exampleEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	var kinds, datasetSources []string
	var named, custom bool
	for _, u := range cfg.Upstreams {
		kinds = append(kinds, u.Kind)
	}
	for _, f := range cfg.Features {
		for _, e := range f.Endpoints {
			named = named || e.Name != ""
			custom = custom || e.Method != ""
		}
		if f.Datasets != nil {
			src, _, _ := strings.Cut(f.Datasets.From, ".")
			datasetSources = append(datasetSources, src)
		}
	}
	for _, k := range []string{config.KindOpenAI, config.KindAnthropic, config.KindHTTP, config.KindMock} {
		if !slices.Contains(kinds, k) {
			t.Errorf("the example has no upstream of kind %s", k)
		}
	}
	for _, src := range []string{"body", "path"} {
		if !slices.Contains(datasetSources, src) {
			t.Errorf("the example has no datasets read from the %s", src)
		}
	}
	if !named || !custom {
		t.Errorf("the example shows named endpoints %t, custom routes %t; want both", named, custom)
	}
	for _, want := range []string{"api_key: ${", "api_key_file: ${"} {
		if !strings.Contains(string(exampleConfig), want) {
			t.Errorf("the example has no %q", want)
		}
	}
}

// missingFields returns the dotted paths of the fields of t that none of
// nodes (the YAML values that decode into a t) sets. Map values and
// slice items are merged, so each field of an upstream must be set by at
// least one upstream. Types with their own YAML decoding are not entered.
func missingFields(t reflect.Type, nodes []*yaml.Node, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil
	}
	switch t.Kind() {
	case reflect.Map:
		return missingFields(t.Elem(), childValues(nodes, yaml.MappingNode, mapValues), path+".*")
	case reflect.Slice:
		return missingFields(t.Elem(), childValues(nodes, yaml.SequenceNode, sequenceItems), path+"[]")
	case reflect.Struct:
		var missing []string
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			sub := strings.TrimPrefix(path+"."+name, ".")
			values := fieldValues(nodes, name)
			if len(values) == 0 {
				missing = append(missing, sub)
				continue
			}
			missing = append(missing, missingFields(f.Type, values, sub)...)
		}
		return missing
	}
	return nil
}

func childValues(nodes []*yaml.Node, kind yaml.Kind, children func(*yaml.Node) []*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, n := range nodes {
		if n.Kind == kind {
			out = append(out, children(n)...)
		}
	}
	return out
}

func mapValues(n *yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for i := 1; i < len(n.Content); i += 2 {
		out = append(out, n.Content[i])
	}
	return out
}

func sequenceItems(n *yaml.Node) []*yaml.Node { return n.Content }

// fieldValues returns the values of key name in every mapping of nodes.
func fieldValues(nodes []*yaml.Node, name string) []*yaml.Node {
	var out []*yaml.Node
	for _, n := range nodes {
		if n.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				out = append(out, n.Content[i+1])
			}
		}
	}
	return out
}

// config check on a PostgreSQL store: the same scan as on SQLite.
func TestConfigCheckPostgres(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys := seed(t, db)
	file := filepath.Join(t.TempDir(), "scopegate.yaml")
	if err := os.WriteFile(file, []byte(narrowConfig+"store: {driver: postgres, dsn: \"${PGDSN}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, map[string]string{"PGDSN": dsn}, "config", "check", file)
	if err == nil {
		t.Fatalf("config check with dangling scopes succeeded:\n%s", out)
	}
	for _, want := range []string{
		"principal alice: scope \"chat:mock-large\"",
		"key " + string(keys["alice-large"]) + " (principal alice): scope \"chat:mock-large\"",
		"key " + string(keys["bob-prefix"]) + " (principal bob): scope \"chat:mock-e*\"",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if want := "3 scopes in postgres store not served by " + file; !strings.Contains(errOut, want) {
		t.Errorf("stderr = %q, want it to contain %q", errOut, want)
	}
	if strings.Contains(out+errOut, dsn) {
		t.Error("the DSN was printed")
	}
}

// A PostgreSQL server that cannot be reached leaves the file checked and
// the scan skipped, without printing the DSN's password.
func TestConfigCheckPostgresUnreachable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "scopegate.yaml")
	if err := os.WriteFile(file, []byte("store: {driver: postgres, dsn: \"${PGDSN}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runCLI(t, map[string]string{"PGDSN": "postgres://scopegate:hunter2secret@127.0.0.1:1/scopegate?connect_timeout=2"}, "config", "check", file)
	if err != nil {
		t.Fatalf("config check = %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "scopes not checked: postgres store unreachable: ") {
		t.Errorf("stdout = %q, want the store reported unreachable", out)
	}
	if strings.Contains(out+errOut, "hunter2secret") {
		t.Errorf("the DSN's password was printed:\n%s%s", out, errOut)
	}
}

// runCLI runs the scopegate command line args with environment env and
// returns stdout, stderr and the error.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), append([]string{"scopegate"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}
