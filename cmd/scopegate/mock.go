package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/provider"
)

// defaultMockListen is loopback only: the mock accepts any credential, so it
// should not be reachable from elsewhere unless asked.
const defaultMockListen = "127.0.0.1:9090"

func newMockUpstreamCmd(e *env) *cobra.Command {
	var listen, logLevel string
	cmd := &cobra.Command{
		Use:   "mock-upstream",
		Short: "Run the built-in mock model provider on its own",
		Long: `mock-upstream serves the built-in mock upstream, the one "kind: mock" selects,
on its own listener, so a gateway (or a client) can reach it over the network.
It answers OpenAI chat completions, completions, responses, embeddings and
models under /v1/..., and Anthropic messages at /v1/messages, with
deterministic replies and real usage numbers, streamed or not. Point an
"openai" upstream at http://ADDR/v1 and an "anthropic" upstream at http://ADDR.

It serves mock-small, mock-large and mock-embed, and any model whose id
starts with gpt-, claude- or text-embedding-; mock-error-<status> answers that
status. Request headers steer it in tests:

  x-mock-latency: 50ms     wait before answering
  x-mock-status: 503       answer this status with an API-shaped error
  x-mock-hang-after: 2     in a stream, send 2 events, then hang
  x-mock-chunk-delay: 5ms  wait between stream events

It accepts any credential and logs no body. The bound address is logged as
{"msg":"mock upstream serving","addr":...} on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger(e.stderr, logLevel)
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("mock upstream listen: %w", err)
			}
			defer ln.Close()
			now := time.Now
			if e.hooks != nil && e.hooks.now != nil {
				now = e.hooks.now
			}
			srv := newServer(provider.NewMock(provider.MockOptions{Now: now, Logger: logger}), logger)
			// Requests live in the command's context, so stopping ends hung
			// streams and long latencies at once instead of waiting out
			// the shutdown grace period for them.
			ctx := cmd.Context()
			srv.BaseContext = func(net.Listener) context.Context { return ctx }
			logger.Info("mock upstream serving", "addr", ln.Addr().String())
			err = serveUntilDone(ctx, srv, ln)
			logger.Info("mock upstream stopped")
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", defaultMockListen, "address to serve on")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
