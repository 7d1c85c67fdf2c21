package apikey

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

// mustParse parses a key the test knows is valid.
func mustParse(t testing.TB, s string) Credential {
	t.Helper()
	c, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return c
}

// redactionKey is a key whose id and secret share no long substring, so
// that finding a piece of the secret in output is never a false alarm.
func redactionKey(t testing.TB) Credential {
	t.Helper()
	c, err := Generate(seededReader(7), ClassData, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRedacted fails if out contains the key or its secret part, or lacks
// the redaction marker.
func checkRedacted(t *testing.T, what, out string, key Credential) {
	t.Helper()
	text := key.Secret.Reveal()
	secret := text[9+IDLen+1 : KeyLen-CRCLen]
	if strings.Contains(out, text) || strings.Contains(out, secret) || strings.Contains(out, secret[:12]) {
		t.Errorf("%s leaks the key: %s", what, out)
	}
	if !strings.Contains(out, redacted) {
		t.Errorf("%s = %s, want it to show %s", what, out, redacted)
	}
}

func TestSecretRedactedByFmt(t *testing.T) {
	cred := redactionKey(t)
	s := cred.Secret
	type holder struct {
		Name   string
		Secret Secret
		Ptr    *Secret
	}
	values := map[string]any{
		"Secret":      s,
		"*Secret":     &s,
		"Credential":  cred,
		"*Credential": &cred,
		"Struct":      holder{Name: "n", Secret: s, Ptr: &s},
		"Slice":       []Secret{s, s},
		"Map":         map[string]Secret{"k": s},
		"Interface":   []any{s},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
			checkRedacted(t, fmt.Sprintf("Sprintf(%q, %s)", verb, name), fmt.Sprintf(verb, v), cred)
		}
	}
	checkRedacted(t, "Sprint", fmt.Sprint(s), cred)
	checkRedacted(t, "Sprintln", fmt.Sprintln(cred), cred)
	checkRedacted(t, "String", s.String(), cred)
	checkRedacted(t, "GoString", s.GoString(), cred)
	checkRedacted(t, "Errorf", fmt.Errorf("use key %v: %w", s, ErrInvalidKey).Error(), cred)
}

// TestSecretInUnexportedField covers fmt's blind spot: it prints the
// fields of a value held in an unexported field by reflection, without
// calling their methods. The key text must not come out that way either.
func TestSecretInUnexportedField(t *testing.T) {
	cred := redactionKey(t)
	type inner struct{ s Secret }
	type outer struct {
		in   inner
		cred Credential
	}
	v := outer{in: inner{s: cred.Secret}, cred: cred}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		out := fmt.Sprintf(verb, v)
		secret := cred.Secret.Reveal()[9+IDLen+1 : KeyLen-CRCLen]
		if strings.Contains(out, secret[:12]) {
			t.Errorf("Sprintf(%q) of a struct with an unexported Secret leaks the key: %s", verb, out)
		}
	}
}

func TestSecretRedactedBySlog(t *testing.T) {
	cred := redactionKey(t)
	for name, newHandler := range map[string]func(*bytes.Buffer) slog.Handler{
		"JSON": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"Text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(newHandler(&buf))
			log.Info("verify", "key", cred.Secret)
			log.Info("verify", slog.Any("key", &cred.Secret))
			log.Info("verify", "credential", cred)
			log.Info("verify", slog.Group("req", "key", cred.Secret))
			log.With("key", cred.Secret).Info("verify")
			log.Info("verify", "holder", struct{ Key Secret }{cred.Secret})
			out := buf.String()
			checkRedacted(t, name+" log", out, cred)
			if n := strings.Count(out, redacted); n != 6 {
				t.Errorf("%s log shows %s %d times, want 6:\n%s", name, redacted, n, out)
			}
		})
	}
}

func TestSecretRedactedByMarshal(t *testing.T) {
	cred := redactionKey(t)
	type response struct {
		ID     ID      `json:"id"`
		Key    Secret  `json:"key"`
		KeyPtr *Secret `json:"key_ptr"`
	}
	b, err := json.Marshal(response{ID: cred.ID, Key: cred.Secret, KeyPtr: &cred.Secret})
	if err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "json.Marshal(struct)", string(b), cred)
	if want := `{"id":"` + string(cred.ID) + `","key":"[REDACTED]","key_ptr":"[REDACTED]"}`; string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	b, err = json.Marshal(cred)
	if err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "json.Marshal(Credential)", string(b), cred)
	b, err = json.Marshal(map[string]Secret{"k": cred.Secret})
	if err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "json.Marshal(map value)", string(b), cred)
	type document struct{ Key Secret }
	b, err = xml.Marshal(document{cred.Secret})
	if err != nil {
		t.Fatal(err)
	}
	checkRedacted(t, "xml.Marshal", string(b), cred)
}

func TestSecretReveal(t *testing.T) {
	cred := mustParse(t, validKey)
	if got := cred.Secret.Reveal(); got != validKey {
		t.Errorf("Reveal() = %q, want the key", got)
	}
	if got := cred.Secret.Last4(); got != "W4Pz" {
		t.Errorf("Last4() = %q, want %q", got, "W4Pz")
	}
	if cred.Secret.IsZero() {
		t.Error("IsZero() = true for a parsed key")
	}
	var zero Secret
	if !zero.IsZero() || zero.Last4() != "" || zero.Reveal() != "" {
		t.Errorf("zero Secret: IsZero %v, Last4 %q, Reveal %q; want true, empty, empty", zero.IsZero(), zero.Last4(), zero.Reveal())
	}
}

func TestSecretEqual(t *testing.T) {
	a := mustParse(t, validKey).Secret
	a2 := mustParse(t, strings.Clone(validKey)).Secret
	other, err := Generate(&counterReader{n: 7}, ClassData, EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		x, y Secret
		want bool
	}{
		{"Same", a, a, true},
		{"EqualText", a, a2, true},
		{"Different", a, other.Secret, false},
		{"ZeroAndKey", Secret{}, a, false},
		{"KeyAndZero", a, Secret{}, false},
		{"PrefixOfKey", newSecret(validKey[:40]), a, false},
		{"BothZero", Secret{}, Secret{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.x.Equal(tt.y); got != tt.want {
				t.Errorf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
	// == on secrets is not constant-time, so the type forbids it.
	if reflect.TypeFor[Secret]().Comparable() {
		t.Error("Secret is comparable with ==, want it not to be")
	}
}
