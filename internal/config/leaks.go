package config

import (
	"errors"
	"fmt"

	"github.com/scopegate/scopegate/internal/leak"
)

// Leaks configures the data plane's leak-response endpoints
// (docs/leaks.md). POST /v1/keys/revoke-leaked is always on.
type Leaks struct {
	// VerifyToken is the bearer token a secret scanner (TruffleHog) sends
	// to POST /v1/keys/verify-leak. Empty turns the endpoint off (404).
	// Set it with ${NAME}.
	VerifyToken Secret `yaml:"verify_token"`
	// GitHub configures the GitHub secret-scanning partner endpoint.
	GitHub LeaksGitHub `yaml:"github"`
}

// LeaksGitHub holds the public keys GitHub signs secret-scanning reports
// with. With none, POST /v1/keys/github-secret-scanning is off (404).
type LeaksGitHub struct {
	PublicKeys []GitHubKey `yaml:"public_keys"`
}

// GitHubKey is one of GitHub's signing keys: its key_identifier and its
// PEM "PUBLIC KEY" (ECDSA P-256), copied from GitHub's published list.
// Keys are never fetched at runtime.
type GitHubKey struct {
	ID  string `yaml:"id"`
	PEM string `yaml:"pem"`
}

// GitHubPEMs returns the configured keys by identifier.
func (l *Leaks) GitHubPEMs() map[string]string {
	out := make(map[string]string, len(l.GitHub.PublicKeys))
	for _, k := range l.GitHub.PublicKeys {
		out[k.ID] = k.PEM
	}
	return out
}

func (l *Leaks) validate() []error {
	var errs []error
	if t := l.VerifyToken; t != "" && len(t) < 32 {
		errs = append(errs, errors.New("leaks.verify_token: must be at least 32 characters"))
	}
	seen := map[string]bool{}
	for i, k := range l.GitHub.PublicKeys {
		switch {
		case k.ID == "":
			errs = append(errs, fmt.Errorf("leaks.github.public_keys[%d].id: required", i))
		case seen[k.ID]:
			errs = append(errs, fmt.Errorf("leaks.github.public_keys[%d].id: %q appears twice", i, k.ID))
		case k.PEM == "":
			errs = append(errs, fmt.Errorf("leaks.github.public_keys[%d].pem: required", i))
		default:
			if _, err := leak.ParseGitHubKeys(map[string]string{k.ID: k.PEM}); err != nil {
				errs = append(errs, fmt.Errorf("leaks.github.public_keys[%d].pem: %w", i, err))
			}
		}
		seen[k.ID] = true
	}
	return errs
}
