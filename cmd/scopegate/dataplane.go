package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/internal/admin"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/proxy"
)

// needsLocalMock reports whether some mock upstream has no base_url, so
// serve must run the mock itself.
func needsLocalMock(cfg *config.Config) bool {
	for _, u := range cfg.Upstreams {
		if u.Kind == config.KindMock && u.BaseURL == "" {
			return true
		}
	}
	return false
}

// startLocalMock listens on a loopback port for the in-process mock
// upstream and returns its listener and server; the caller serves it.
func startLocalMock(s *stack) (net.Listener, *http.Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := newServer(provider.NewMock(provider.MockOptions{Now: s.now, Logger: s.logger}), s.logger)
	return ln, srv, nil
}

// changeRecorder passes admin changes to the audit log, and first drops
// the changed records from the key cache, so a revocation or suspension
// made here takes effect on this process's next request even if the audit
// write fails.
type changeRecorder struct {
	cache *proxy.KeyCache
	next  apikey.Recorder
}

func (r changeRecorder) Record(ctx context.Context, c apikey.Change) error {
	if strings.HasPrefix(c.Action, "key.") {
		r.cache.ForgetKey(apikey.ID(c.Target))
	}
	r.cache.ForgetPrincipal(c.Principal)
	return r.next.Record(ctx, c)
}

// explainer adapts the gateway's Explain to the admin API's interface.
type explainer struct{ g *proxy.Gateway }

func (x explainer) Explain(ctx context.Context, k apikey.Key, p apikey.Principal, req admin.ExplainRequest) (admin.ExplainResult, error) {
	var client netip.Addr
	if req.ClientIP != "" {
		a, err := netip.ParseAddr(req.ClientIP)
		if err != nil {
			return admin.ExplainResult{}, &apikey.ValidationError{Field: "client_ip", Message: "not an IP address"}
		}
		client = a
	}
	e := x.g.Explain(ctx, k, p, req.Method, req.Path, req.Body, client)
	decision := "deny"
	if e.Allow {
		decision = "allow"
	}
	return admin.ExplainResult{Decision: decision, Stage: e.Stage, Status: e.Status, Reason: e.Reason, Message: e.Message,
		Feature: e.Feature, Scope: e.Scope, RequiredScope: e.RequiredScope, Resource: e.Resource,
		Upstream: e.Upstream, UpstreamPath: e.UpstreamPath}, nil
}
