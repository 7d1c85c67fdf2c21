package audit

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// DefaultPublishInterval is how often a [Publisher] looks for a new
// checkpoint when it is given no interval.
const DefaultPublishInterval = 10 * time.Second

// publishedName is the file, in a publish directory, holding a copy of the
// latest published checkpoint.
const publishedName = "checkpoint"

// publishedSizeName returns the file name, in a publish directory, of the
// checkpoint for a tree of size records.
func publishedSizeName(size uint64) string { return fmt.Sprintf("checkpoint-%012d.note", size) }

// Publisher copies the log's latest signed checkpoint off the log's own
// directory, so that a copy survives whoever controls the machine: to a
// directory (typically a mount that belongs to someone else) and to a URL.
// An auditor holding any copy can prove that the records it covers were
// not later edited, deleted or cut off.
//
// Publishing is best effort: a failure is logged and retried at the next
// interval, and the log never waits for it.
type Publisher struct {
	log      *Log
	dir      string
	post     func(ctx context.Context, note []byte) error
	interval time.Duration
	logger   *slog.Logger

	// The last checkpoint each destination accepted; only Run touches them.
	written []byte
	posted  []byte
}

// NewPublisher returns a Publisher of log's checkpoints. dir, if not
// empty, receives the files checkpoint (the latest) and
// checkpoint-<size, 12 digits>.note; post, if not nil, is called with the
// signed note and returns an error when the copy was not accepted. An
// interval of zero or less means [DefaultPublishInterval]; a nil logger
// discards.
func NewPublisher(log *Log, dir string, post func(ctx context.Context, note []byte) error, interval time.Duration, logger *slog.Logger) *Publisher {
	if interval <= 0 {
		interval = DefaultPublishInterval
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{log: log, dir: dir, post: post, interval: interval, logger: logger}
}

// Run publishes the latest checkpoint every interval, to each destination
// that has not accepted it yet, until ctx is done. It returns nil then:
// failures to publish are logged, never returned, so that they do not stop
// the gateway.
func (p *Publisher) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			p.publish(ctx)
		}
	}
}

// PublishNow publishes the latest checkpoint once, if a destination has
// not accepted it yet: at shutdown, after the final checkpoint is signed,
// so the last one leaves the machine too. Failures are logged.
func (p *Publisher) PublishNow(ctx context.Context) { p.publish(ctx) }

// publish sends the latest checkpoint to each destination whose last
// accepted copy differs.
func (p *Publisher) publish(ctx context.Context) {
	size, msg, ok := p.log.latestSigned()
	if !ok {
		return // nothing signed yet
	}
	if p.dir != "" && !bytes.Equal(msg, p.written) {
		if err := p.write(size, msg); err != nil {
			p.logger.WarnContext(ctx, "audit: could not publish checkpoint to directory; retrying next interval",
				"dir", p.dir, "size", size, "err", err)
		} else {
			p.written = msg
			p.logger.DebugContext(ctx, "audit: published checkpoint to directory", "dir", p.dir, "size", size)
		}
	}
	if p.post != nil && !bytes.Equal(msg, p.posted) {
		if err := p.post(ctx, msg); err != nil {
			p.logger.WarnContext(ctx, "audit: could not post checkpoint; retrying next interval", "size", size, "err", err)
		} else {
			p.posted = msg
			p.logger.DebugContext(ctx, "audit: posted checkpoint", "size", size)
		}
	}
}

// write puts msg in the publish directory: the per-size file first, then
// the latest copy, so that the latest never names a checkpoint the
// directory does not keep. Both are replaced atomically.
func (p *Publisher) write(size uint64, msg []byte) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(p.dir, publishedSizeName(size), msg, 0o644); err != nil {
		return err
	}
	return writeFileAtomic(p.dir, publishedName, msg, 0o644)
}

// latestSigned returns the size and the signed note of the latest
// checkpoint, and false before the first one.
func (l *Log) latestSigned() (uint64, []byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.signed.note == nil {
		return 0, nil, false
	}
	return l.signed.size, bytes.Clone(l.signed.note), true
}
