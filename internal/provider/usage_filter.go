package provider

import (
	"bytes"
	"io"
	"slices"
)

// maxHeldEvent caps the bytes of one event a UsageChunkFilter holds back
// while it waits for the event's end. A usage chunk is a few hundred
// bytes; a longer event is passed on unfiltered as it arrives, so memory
// stays bounded whatever the upstream sends.
const maxHeldEvent = 1 << 20

// A UsageChunkFilter starts with a buffer of filterBufSize bytes and
// grows it when less than filterMinRead is free for the next read: most
// events are small, and a stream is held by each call in flight.
const (
	filterBufSize = 8 << 10
	filterMinRead = 2 << 10
)

// maxEmptyReads is how many reads in a row may return nothing before a
// UsageChunkFilter gives up with io.ErrNoProgress, as bufio does.
const maxEmptyReads = 100

// UsageChunkFilter passes an OpenAI chat completions or completions
// server-sent event stream through, event by event, without the chunk
// that stream_options.include_usage adds: the event whose data is an
// object with an empty "choices" array and a non-null "usage". Every
// other byte passes unchanged, "data: [DONE]" included. The gateway puts
// it between the upstream and the client when
// [Request.InjectsStreamUsage] says it asked for usage the client did
// not; the usage is metered before the filter, on the upstream's bytes.
//
// An event ends at a blank line, and lines end with "\n", "\r\n" or "\r",
// as in the SSE specification. The filter holds back only the bytes of
// the event being received: Read returns each event as soon as a read
// from the source brings its blank line, and upstreams flush per event,
// so the client sees no delay. An event longer than 1 MiB (a usage chunk
// is a few hundred bytes) is not held: it is passed on as it arrives,
// unfiltered. When the source ends or fails inside an event, the bytes
// held are passed on before the error.
//
// The filter only reads; the caller keeps the source (an http.Response
// body) to close it. A UsageChunkFilter is not safe for concurrent use.
type UsageChunkFilter struct {
	src io.Reader
	// buf holds what was read and not yet returned: buf[off:ready] is
	// passed and waits for Read; buf[ready:] is the event being
	// received, scanned up to scan.
	buf              []byte
	off, ready, scan int
	lineEmpty        bool  // no byte of the current line has been scanned
	afterCR          bool  // the last byte scanned was a '\r' ending a line
	crEnded          crEnd // what that '\r' ended
	passing          bool  // the event being received is too long to hold
	maxHeld          int   // maxHeldEvent, smaller in tests
	emptyReads       int
	err              error // from src; returned once buf is drained
}

// crEnd is what a line that ended with '\r' ended, which decides what
// becomes of a '\n' right after it (the "\r\n" of the same line end).
type crEnd uint8

const (
	crLine    crEnd = iota // a line of the event being received
	crPassed               // an event passed on
	crDropped              // an event removed
)

// NewUsageChunkFilter returns a UsageChunkFilter reading the stream from
// src.
func NewUsageChunkFilter(src io.Reader) *UsageChunkFilter {
	return &UsageChunkFilter{src: src, lineEmpty: true, maxHeld: maxHeldEvent}
}

// Read reads the filtered stream. It returns what is ready without
// waiting for more of the source, and the source's error (io.EOF at the
// end) once everything before it has been read.
func (f *UsageChunkFilter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for f.off == f.ready {
		if f.err != nil {
			return 0, f.err
		}
		f.fill()
	}
	n := copy(p, f.buf[f.off:f.ready])
	f.off += n
	return n, nil
}

// fill reads once from the source, once everything passed has been
// returned, and decides the events that end in what it read.
func (f *UsageChunkFilter) fill() {
	n := copy(f.buf, f.buf[f.ready:])
	f.buf = f.buf[:n]
	f.scan -= f.ready
	f.off, f.ready = 0, 0
	if cap(f.buf)-n < filterMinRead {
		f.buf = slices.Grow(f.buf, max(filterMinRead, filterBufSize-n))
	}
	k, err := f.src.Read(f.buf[n:cap(f.buf)])
	f.buf = f.buf[:n+k]
	f.scanEvents()
	if k > 0 || err != nil {
		f.emptyReads = 0
	} else if f.emptyReads++; f.emptyReads >= maxEmptyReads {
		err = io.ErrNoProgress
	}
	if err != nil {
		// An event the stream ends in is passed on as it is.
		f.err, f.ready = err, len(f.buf)
	}
}

// scanEvents scans buf[scan:], deciding each event that ends there, and
// passes on the event being received when it is too long to hold.
func (f *UsageChunkFilter) scanEvents() {
	for f.scan < len(f.buf) {
		i := f.scan
		if f.afterCR {
			f.afterCR = false
			if f.buf[i] == '\n' {
				switch f.crEnded {
				case crLine:
					f.scan++
				case crPassed:
					f.scan++
					f.ready = f.scan
				case crDropped:
					f.buf = append(f.buf[:i], f.buf[i+1:]...)
				}
				continue
			}
		}
		j := indexLineEnd(f.buf[i:])
		if j < 0 {
			f.scan, f.lineEmpty = len(f.buf), false
			break
		}
		f.scan = i + j + 1
		f.afterCR = f.buf[i+j] == '\r'
		if j > 0 || !f.lineEmpty {
			f.lineEmpty, f.crEnded = true, crLine
			continue
		}
		f.endEvent()
	}
	if f.passing || len(f.buf)-f.ready > f.maxHeld {
		f.passing, f.ready = true, len(f.buf)
	}
}

// endEvent decides the event buf[ready:scan], which has just ended.
func (f *UsageChunkFilter) endEvent() {
	if !f.passing && isUsageChunk(f.buf[f.ready:f.scan]) {
		f.buf = append(f.buf[:f.ready], f.buf[f.scan:]...)
		f.scan, f.crEnded = f.ready, crDropped
		return
	}
	f.passing, f.ready, f.crEnded = false, f.scan, crPassed
}

// isUsageChunk reports whether the event ev (its lines, blank line
// included) is the chunk include_usage adds: its data is an object whose
// "choices" is an empty array and whose "usage" is not null.
func isUsageChunk(ev []byte) bool {
	data := eventData(ev)
	// Cheap test first: other chunks have choices, and only data with an
	// empty array somewhere needs a closer look.
	if !hasEmptyArray(data) {
		return false
	}
	choices, ok := lookup(data, "choices")
	if !ok || !isEmptyArray(choices) {
		return false
	}
	usage, ok := lookup(data, "usage")
	return ok && !isNull(usage)
}

// hasEmptyArray reports whether b has a '[' followed by ']', with only
// whitespace between.
func hasEmptyArray(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '[')
		if i < 0 {
			return false
		}
		b = b[i+1:]
		if j := skipSpace(b, 0); j < len(b) && b[j] == ']' {
			return true
		}
	}
}

// isEmptyArray reports whether the value token v is an empty array.
func isEmptyArray(v []byte) bool {
	return len(v) >= 2 && v[0] == '[' && skipSpace(v, 1) == len(v)-1 && v[len(v)-1] == ']'
}

// eventData returns the data of the event ev: the values of its "data"
// fields, joined by '\n'.
func eventData(ev []byte) []byte {
	var data []byte
	n := 0
	for len(ev) > 0 {
		line := ev
		if j := indexLineEnd(ev); j >= 0 {
			line, ev = ev[:j], ev[j+1:]
		} else {
			ev = nil
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		if string(field) != "data" {
			continue
		}
		value = bytes.TrimPrefix(value, []byte(" "))
		if n == 0 {
			data = value
		} else {
			// The full slice expression makes append copy rather than
			// write over the event.
			data = append(append(data[:len(data):len(data)], '\n'), value...)
		}
		n++
	}
	return data
}
