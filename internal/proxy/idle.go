package proxy

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// errResponseIdle is the cause given to an upstream call the idle watch
// ended (proxy.response_idle_timeout).
var errResponseIdle = errors.New("no byte reached the client within proxy.response_idle_timeout")

// idleWatch ends a response that stops moving: once the upstream's
// headers have come, every write to the client re-arms a timer, and if
// it runs out the upstream call is cancelled and the client connection's
// write deadline is set to now. One timer covers both ways a response
// can stop: an upstream that stalls between events (nothing to write)
// and a client that stops reading (a write that blocks). Server-wide
// WriteTimeout cannot do this: it bounds the whole response, and model
// streams may rightly last many minutes.
type idleWatch struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	w      http.ResponseWriter // the client's, for its write deadline

	mu    sync.Mutex
	timer *time.Timer
	done  bool
	fired atomic.Bool
}

// start arms the watch; it is called when the upstream's headers come,
// since the wait for them is bounded by the upstream's own timeout.
func (iw *idleWatch) start() {
	if iw.off() {
		return
	}
	iw.mu.Lock()
	defer iw.mu.Unlock()
	if iw.done || iw.timer != nil {
		return
	}
	iw.timer = time.AfterFunc(iw.d, iw.expire)
}

// touch re-arms the watch after a write reached the client.
func (iw *idleWatch) touch() {
	if iw.off() {
		return
	}
	iw.mu.Lock()
	if iw.timer != nil && !iw.done {
		iw.timer.Reset(iw.d)
	}
	iw.mu.Unlock()
}

// stop disarms the watch when the response has ended.
func (iw *idleWatch) stop() {
	if iw.off() {
		return
	}
	iw.mu.Lock()
	iw.done = true
	if iw.timer != nil {
		iw.timer.Stop()
	}
	iw.mu.Unlock()
}

func (iw *idleWatch) expire() {
	// The lock is held throughout: once stop has returned, the response
	// has ended and its connection may carry the next request, whose
	// writes a deadline set now would cut.
	iw.mu.Lock()
	defer iw.mu.Unlock()
	if iw.done {
		return
	}
	iw.fired.Store(true)
	iw.cancel(errResponseIdle)
	// A write blocked on a client that stopped reading returns at once.
	http.NewResponseController(iw.w).SetWriteDeadline(time.Now())
}

// expired reports whether the watch ended the response.
func (iw *idleWatch) expired() bool {
	return iw.fired.Load()
}

// off reports whether the watch is unused: proxy.response_idle_timeout is
// off, or the call never armed it.
func (iw *idleWatch) off() bool { return iw.d == 0 }

// idleWriter is the ResponseWriter the reverse proxy writes the upstream's
// response to: each write that returns re-arms the watch. Unwrap lets
// http.ResponseController reach the server's writer for flushes.
type idleWriter struct {
	http.ResponseWriter
	watch *idleWatch
}

func (w *idleWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if n > 0 {
		w.watch.touch()
	}
	return n, err
}

// Flush sends what is buffered; ReverseProxy flushes stream events as
// they arrive.
func (w *idleWriter) Flush() {
	// The server's writer flushes with FlushError; anything else is asked
	// through a ResponseController.
	var err error
	if f, ok := w.ResponseWriter.(interface{ FlushError() error }); ok {
		err = f.FlushError()
	} else {
		err = http.NewResponseController(w.ResponseWriter).Flush()
	}
	if err == nil {
		w.watch.touch()
	}
}

// Unwrap returns the server's ResponseWriter.
func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
