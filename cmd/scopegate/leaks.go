package main

import (
	"log/slog"
	"net/http"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/leak"
	"github.com/scopegate/scopegate/internal/proxy"
)

// newLeakHandler puts the leak-response endpoints (docs/leaks.md) in front
// of the gateway: reports revoke keys through the stack's Issuer and raise
// key_leaked alerts through d.
func newLeakHandler(s *stack, cfg *config.Config, d *anomaly.Dispatcher, gw http.Handler, logger *slog.Logger) (http.Handler, error) {
	gh, err := leak.ParseGitHubKeys(cfg.Leaks.GitHubPEMs())
	if err != nil {
		return nil, err
	}
	var alerter leak.Alerter
	if d != nil {
		alerter = d
	}
	r := leak.NewResponder(s.verifier, s.issuer, alerter, logger, s.now)
	return proxy.NewLeakHandler(proxy.LeakConfig{Logger: logger, Responder: r, VerifyToken: cfg.Leaks.VerifyToken.Reveal(),
		GitHub: gh, Privacy: s.privacy(), Next: gw}), nil
}
