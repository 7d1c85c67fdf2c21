package config

import (
	"strings"
	"testing"
)

func TestLeaksValidate(t *testing.T) {
	const pemP256 = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsxosV2A3K2QKfVKq4SGvN48ztccJ
EBRpBLIhvpnw6FRpd4f5Z0iQ4lZjmhLX+GDYKHm/E6MCw6zvd7dxDfqtXQ==
-----END PUBLIC KEY-----
`
	for _, c := range []struct {
		name string
		l    Leaks
		want string
	}{
		{"empty", Leaks{}, ""},
		{"good", Leaks{VerifyToken: Secret(strings.Repeat("x", 32)), GitHub: LeaksGitHub{PublicKeys: []GitHubKey{{ID: "a", PEM: pemP256}}}}, ""},
		{"short token", Leaks{VerifyToken: "short"}, "leaks.verify_token"},
		{"no id", Leaks{GitHub: LeaksGitHub{PublicKeys: []GitHubKey{{PEM: pemP256}}}}, "public_keys[0].id"},
		{"twice", Leaks{GitHub: LeaksGitHub{PublicKeys: []GitHubKey{{ID: "a", PEM: pemP256}, {ID: "a", PEM: pemP256}}}}, "appears twice"},
		{"no pem", Leaks{GitHub: LeaksGitHub{PublicKeys: []GitHubKey{{ID: "a"}}}}, "pem: required"},
		{"bad pem", Leaks{GitHub: LeaksGitHub{PublicKeys: []GitHubKey{{ID: "a", PEM: "nope"}}}}, "PUBLIC KEY"},
	} {
		errs := c.l.validate()
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.name, errs)
		case c.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), c.want)):
			t.Errorf("%s: %v, want an error about %s", c.name, errs, c.want)
		}
	}
}
