package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/config"
)

// checkpointPostTimeout bounds one POST of a checkpoint, so that a slow
// receiver delays the next attempt by at most this long.
const checkpointPostTimeout = 10 * time.Second

// newPublisher returns the publisher of the audit log's checkpoints that
// cfg asks for, or nil when it names no destination.
func newPublisher(cfg config.Publish, log *audit.Log, logger *slog.Logger) *audit.Publisher {
	if cfg.Dir == "" && cfg.URL == "" {
		return nil
	}
	var post func(context.Context, []byte) error
	if cfg.URL != "" {
		post = checkpointPoster(&http.Client{Timeout: checkpointPostTimeout}, cfg.URL)
	}
	return audit.NewPublisher(log, cfg.Dir, post, time.Duration(cfg.Interval), logger)
}

// checkpointPoster returns a func that POSTs a signed checkpoint to target
// as text/plain; any answer but 2xx is an error. Errors never name target,
// which may hold credentials in its user info or query.
func checkpointPoster(client *http.Client, target string) func(context.Context, []byte) error {
	return func(ctx context.Context, note []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(note))
		if err != nil {
			return errors.New("post checkpoint: invalid url")
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		resp, err := client.Do(req)
		if err != nil {
			if ue, ok := errors.AsType[*url.Error](err); ok {
				err = ue.Err // without the URL
			}
			return fmt.Errorf("post checkpoint: %w", err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("post checkpoint: %s", resp.Status)
		}
		return nil
	}
}
