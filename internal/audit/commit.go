package audit

import (
	"errors"
	"time"
)

// appendReq is one caller waiting in Append.
type appendReq struct {
	body  []byte // the line after its header (encodeBody)
	event Event  // what body encodes, for the tap
	idx   uint64
	err   error
	done  chan struct{} // closed when idx or err is set
}

// writer is the state of the single writer: the next index and the files
// it appends to. Records are numbered here, so their order in the segment
// is their index order.
type writer struct {
	segs   segmentWriter
	hashes hashWriter
	next   uint64
	lastTS time.Time
	buf    []byte // the batch's lines
	splits []int  // offsets in buf where a new segment starts
}

// flush writes every queued record as one batch.
func (l *Log) flush() {
	l.mu.Lock()
	batch := l.queue
	l.queue, l.spare = l.spare[:0], batch
	failed := l.failed
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if failed != nil {
		complete(batch, failed)
	} else {
		l.writeBatch(batch)
	}
	clear(batch) // let the requests go
}

// writeBatch gives the batch's records the next indexes and one timestamp,
// appends their lines to the segment (one write and one sync) and their
// hashes to the hashes file (one write, synced only before a checkpoint is
// signed over them), and then releases the callers. Any error fails the
// log.
func (l *Log) writeBatch(batch []*appendReq) {
	w := &l.w
	// One clock reading per batch, never earlier than the last record's, so
	// ts does not decrease along the log even if the clock steps back.
	ts := l.now().UTC().Truncate(time.Millisecond)
	if ts.Before(w.lastTS) {
		ts = w.lastTS
	}
	if err := checkTime(ts); err != nil {
		complete(batch, err) // nothing written: the log is still sound
		return
	}
	w.buf, w.splits = w.buf[:0], w.splits[:0]
	for i, r := range batch {
		idx := w.next + uint64(i)
		start := len(w.buf)
		w.buf = appendHeader(w.buf, idx, ts)
		w.buf = append(w.buf, r.body...)
		if err := w.hashes.add(int64(idx), w.buf[start:]); err != nil {
			l.fail(err)
			complete(batch, l.Healthy())
			return
		}
		w.buf = append(w.buf, '\n')
		if (idx+1)%w.segs.size == 0 {
			w.splits = append(w.splits, len(w.buf))
		}
	}

	// The two files are independent until both are synced: recovery
	// rebuilds hashes past the records, and cuts records past the hashes.
	var hashErr error
	hashesDone := make(chan struct{})
	go func() {
		defer close(hashesDone)
		hashErr = w.hashes.flush()
	}()
	segErr := w.segs.write(w.next, w.buf, w.splits)
	<-hashesDone
	if err := errors.Join(segErr, hashErr); err != nil {
		l.fail(err)
		complete(batch, l.Healthy())
		return
	}

	l.observer.ObserveBatch(len(batch))
	first := w.next
	w.next += uint64(len(batch))
	w.lastTS = ts
	l.mu.Lock()
	l.durable = w.next
	l.mu.Unlock()
	for i, r := range batch {
		r.idx = first + uint64(i)
		close(r.done)
	}
	if l.tap != nil {
		for i, r := range batch {
			l.tap(Record{Index: first + uint64(i), Time: ts, Event: r.event})
		}
	}
}

// complete releases every request of batch with err.
func complete(batch []*appendReq, err error) {
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
}
