package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxInFlight = 10000
	DefaultTimeout     = 30 * time.Second
)

// Config is a run.
type Config struct {
	Target *Target
	// Rate is the open-loop rate in requests per second; 0 runs closed
	// loop with Concurrency workers.
	Rate        float64
	Concurrency int
	// MaxInFlight caps the open-loop worker pool, and so the requests in
	// flight; zero means DefaultMaxInFlight.
	MaxInFlight int
	// Warmup is sent but not measured; Duration is measured after it.
	Warmup, Duration time.Duration
	// Timeout bounds each request, body included; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// Progress, if not nil, gets a progress line every second.
	Progress io.Writer
	// Version is the tool's version, copied into the summary.
	Version string
}

// Mode returns "open" or "closed".
func (c *Config) Mode() string {
	if c.Rate > 0 {
		return "open"
	}
	return "closed"
}

func (c *Config) check() error {
	switch {
	case c.Target == nil:
		return errors.New("no target")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	case c.Rate == 0 && c.Concurrency < 1:
		return errors.New("closed loop (rate 0) needs a concurrency of at least 1")
	case c.Duration <= 0:
		return errors.New("duration must be positive")
	case c.Warmup < 0:
		return errors.New("warmup must not be negative")
	case c.MaxInFlight < 0:
		return errors.New("max in flight must not be negative")
	}
	return nil
}

// runner is one run's state. Counters that every request touches are
// atomic; the histograms and the error table share one mutex, taken once
// per answer.
type runner struct {
	cfg       Config
	client    *http.Transport
	start     time.Time // start of the warmup
	measureAt time.Time // end of the warmup, start of the measured phase
	end       time.Time

	sent, dropped atomic.Int64 // all phases, for the progress line
	inFlight      atomic.Int64
	peakInFlight  atomic.Int64
	workers       atomic.Int64

	mu                         sync.Mutex
	latency, ttfb, window      *Histogram
	requests, ok, errs, mDrops int64 // measured phase only
	total, totalErrs           int64 // all phases, for the progress line
	errKinds                   map[string]int64
}

// Run sends requests as cfg says until the warmup and the duration are
// over, waits for the answers still due, and returns the summary of the
// measured phase. Cancelling ctx ends the run early; the summary then
// covers what was measured.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Rate > 0 && runtime.GOMAXPROCS(0) < 2 {
		// The pacer spins on its own locked thread and holds a P all run.
		// Pinned to one CPU (taskset), Go starts with GOMAXPROCS 1: the
		// workers then get the CPU only when the pacer yields, and the
		// network poller runs every 10ms, so answers wait for it (p50 of
		// 5ms against a 100µs server). A second P lets the kernel share the
		// core between the pacer's thread and the workers' at its own fine
		// grain.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	r := &runner{cfg: cfg, latency: NewHistogram(), ttfb: NewHistogram(), window: NewHistogram(),
		errKinds: map[string]int64{}}
	r.client = newTransport(cfg)
	defer r.client.CloseIdleConnections()
	r.start = time.Now()
	r.measureAt = r.start.Add(cfg.Warmup)
	r.end = r.measureAt.Add(cfg.Duration)

	stopProgress := r.progress(ctx)
	if cfg.Rate > 0 {
		r.openLoop(ctx)
	} else {
		r.closedLoop(ctx)
	}
	stopProgress()
	// Uncut, the measured phase is exactly Duration: the pacer and the
	// closed-loop workers stop sending at its end.
	endAt := r.end
	if ctx.Err() != nil {
		endAt = earlier(time.Now(), r.end)
	}
	return r.summary(endAt), nil
}

// newTransport returns the run's one transport: enough idle connections
// for every worker to keep its own, no compression (it would cost the
// client CPU the servers need), and no proxy from the environment.
func newTransport(cfg Config) *http.Transport {
	conns := cfg.Concurrency
	if cfg.Rate > 0 {
		conns = cfg.MaxInFlight
	}
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: max(conns, 2),
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// openLoop paces the requests from a locked thread and hands each to an
// idle worker, starting a worker when none is idle and the pool is below
// MaxInFlight, and dropping the request otherwise.
func (r *runner) openLoop(ctx context.Context) {
	jobs := make(chan time.Time)
	var wg sync.WaitGroup
	p := Pacer{Rate: r.cfg.Rate}
	p.Run(ctx, r.start, r.end, func(_ int64, t time.Time) {
		select {
		case jobs <- t: // an idle worker was waiting
			r.sent.Add(1)
			return
		default:
		}
		// Only the pacer starts workers, so the count cannot race past
		// the cap.
		if r.workers.Load() < int64(r.cfg.MaxInFlight) {
			r.workers.Add(1)
			r.sent.Add(1)
			wg.Go(func() { r.worker(ctx, t, jobs) })
			return
		}
		r.drop(t)
	})
	close(jobs)
	wg.Wait()
}

func (r *runner) worker(ctx context.Context, first time.Time, jobs <-chan time.Time) {
	buf := make([]byte, 4096)
	r.do(ctx, first, buf)
	for t := range jobs {
		r.do(ctx, t, buf)
	}
}

// closedLoop runs Concurrency workers that each send one request after
// another until the end; latency is from each actual send.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for ctx.Err() == nil {
				t := time.Now()
				if !t.Before(r.end) {
					return
				}
				r.sent.Add(1)
				r.do(ctx, t, buf)
			}
		})
	}
	wg.Wait()
}

// do sends one request intended at t and records its outcome.
func (r *runner) do(ctx context.Context, t time.Time, buf []byte) {
	n := r.inFlight.Add(1)
	for p := r.peakInFlight.Load(); n > p && !r.peakInFlight.CompareAndSwap(p, n); p = r.peakInFlight.Load() {
	}
	defer r.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	end, first, kind := r.send(ctx, buf)
	if kind != "" {
		r.fail(t, kind)
		return
	}
	var ttfb time.Duration
	if r.cfg.Target.Stream {
		ttfb = first.Sub(t)
		if first.IsZero() {
			ttfb = end.Sub(t) // an empty body: its first byte is its end
		}
	}
	r.succeed(t, end.Sub(t), ttfb)
}

// send sends the target's request and reads the whole answer. It returns
// when the answer ended and when its first body byte came (zero if none),
// and an error kind, empty on success.
func (r *runner) send(ctx context.Context, buf []byte) (end, first time.Time, kind string) {
	tg := r.cfg.Target
	h := tg.Header
	if len(tg.Keys) > 0 {
		h = make(http.Header, len(tg.Header)+1)
		maps.Copy(h, tg.Header)
		h["Authorization"] = []string{tg.Keys[rand.IntN(len(tg.Keys))]}
	}
	// The URL and, without Keys, the header are shared by every request:
	// a RoundTripper must not modify its request.
	req := (&http.Request{Method: tg.Method, URL: tg.URL, Header: h, Host: tg.URL.Host,
		Body: io.NopCloser(bytes.NewReader(tg.Body)), ContentLength: int64(len(tg.Body))}).WithContext(ctx)
	resp, err := r.client.RoundTrip(req)
	if err != nil {
		return end, first, errorKind(ctx, err)
	}
	defer resp.Body.Close()
	var tail StreamTail
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if first.IsZero() {
				first = time.Now()
			}
			if tg.Stream {
				tail.Write(buf[:n])
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return end, first, errorKind(ctx, err)
		}
	}
	end = time.Now()
	switch {
	case resp.StatusCode != tg.Expect:
		return end, first, statusKind(resp.StatusCode)
	case tg.Stream && tg.Expect == http.StatusOK && !tail.Done():
		return end, first, KindIncompleteStream
	}
	return end, first, ""
}

// Error kinds other than an unexpected status, which is "status_NNN".
const (
	// KindIncompleteStream is a stream that ended without "data: [DONE]".
	KindIncompleteStream = "incomplete_stream"
	// KindTimeout is a request that took longer than Config.Timeout.
	KindTimeout = "timeout"
	// KindCanceled is a request cut short by the end of the run (the
	// caller's context).
	KindCanceled = "canceled"
	// KindConnect is a failure to connect.
	KindConnect = "connect"
	// KindTransport is any other failure to send or to read the answer.
	KindTransport = "transport"
)

func errorKind(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return KindTimeout
	case ctx.Err() != nil:
		return KindCanceled
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return KindConnect
	}
	return KindTransport
}

func statusKind(code int) string { return "status_" + strconv.Itoa(code) }

// measured reports whether a request intended at t is in the measured
// phase.
func (r *runner) measured(t time.Time) bool { return !t.Before(r.measureAt) }

func (r *runner) succeed(t time.Time, total, ttfb time.Duration) {
	m := r.measured(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.window.Record(total)
	if !m {
		return
	}
	r.requests++
	r.ok++
	r.latency.Record(total)
	if r.cfg.Target.Stream {
		r.ttfb.Record(ttfb)
	}
}

func (r *runner) fail(t time.Time, kind string) {
	m := r.measured(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.totalErrs++
	if !m {
		return
	}
	r.requests++
	r.errs++
	r.errKinds[kind]++
}

func (r *runner) drop(t time.Time) {
	r.dropped.Add(1)
	if !r.measured(t) {
		return
	}
	r.mu.Lock()
	r.mDrops++
	r.mu.Unlock()
}

// progress starts the progress line, if asked for, and returns the
// function that stops it.
func (r *runner) progress(ctx context.Context) (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := int64(0), r.start
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				last, lastAt = r.progressLine(now, last, lastAt), now
			}
		}
	}()
	return func() { cancel(); <-done }
}

// progressLine prints elapsed time, counts, the rate of answers since the
// last line and the percentiles of those answers, and returns the count
// of answers so far.
func (r *runner) progressLine(now time.Time, last int64, lastAt time.Time) int64 {
	r.mu.Lock()
	total, errs := r.total, r.totalErrs
	p50, p99 := r.window.Quantile(50), r.window.Quantile(99)
	r.window.Reset()
	r.mu.Unlock()
	phase := ""
	if now.Before(r.measureAt) {
		phase = "  (warmup)"
	}
	rate := float64(total-last) / now.Sub(lastAt).Seconds()
	fmt.Fprintf(r.cfg.Progress, "%6.1fs  sent %d  ok %d  errors %d  dropped %d  in flight %d  %.0f/s  p50 %s  p99 %s%s\n",
		now.Sub(r.start).Seconds(), r.sent.Load(), total-errs, errs, r.dropped.Load(), r.inFlight.Load(),
		rate, FormatDuration(p50), FormatDuration(p99), phase)
	return total
}

// FormatDuration prints d for people: µs below a millisecond, ms below a
// second, s above, with three significant digits.
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
	}
}
