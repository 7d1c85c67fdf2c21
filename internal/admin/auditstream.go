package admin

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// heartbeatEvery is how often an idle stream sends a comment, so that
// proxies and load balancers do not close it as idle and the client can
// tell a quiet log from a dead connection.
const heartbeatEvery = 15 * time.Second

// handleAuditStream serves GET /admin/v1/audit/stream: the records written
// from now on as server-sent events, for shipping to a SIEM. Each record is
// one event, "id: <idx>" and "data: <record>", flushed as it comes; an idle
// stream sends a ": heartbeat" comment every 15 seconds. The stream ends
// when the client goes away or the log closes the subscription; a client
// that reconnects catches up with GET /admin/v1/audit/events?after=<id+1>.
func handleAuditStream(logger *slog.Logger, reader AuditReader) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auditAccess(r.Context(), reader); err != nil {
			writeError(w, r, logger, err)
			return
		}
		if _, err := strictQuery(r); err != nil {
			writeError(w, r, logger, err)
			return
		}
		records, err := reader.Subscribe(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		rc := http.NewResponseController(w)
		// The server's write timeout is for ordinary answers; a stream
		// lasts as long as its client. Writers that cannot clear it keep
		// their timeout.
		_ = rc.SetWriteDeadline(time.Time{})
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Accel-Buffering", "no") // nginx would otherwise buffer the stream
		w.WriteHeader(http.StatusOK)
		if rc.Flush() != nil {
			return
		}
		streamRecords(w, rc, r, records)
	})
}

// streamRecords writes records as events until the client goes away or
// records is closed.
func streamRecords(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, records <-chan json.RawMessage) {
	heartbeat := time.NewTicker(heartbeatEvery)
	defer heartbeat.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		select {
		case <-r.Context().Done():
			return
		case rec, ok := <-records:
			if !ok {
				return
			}
			writeEvent(&buf, rec)
			heartbeat.Reset(heartbeatEvery)
		case <-heartbeat.C:
			buf.WriteString(": heartbeat\n\n")
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// writeEvent writes one record as a server-sent event. Its id is the
// record's idx, so a client knows where to resume. Records are one line
// already; one that is not is compacted, since a newline would end the
// data field.
func writeEvent(buf *bytes.Buffer, rec json.RawMessage) {
	if bytes.ContainsAny(rec, "\r\n") {
		var c bytes.Buffer
		if json.Compact(&c, rec) == nil {
			rec = c.Bytes()
		}
	}
	var head struct {
		Idx *int64 `json:"idx"`
	}
	if json.Unmarshal(rec, &head) == nil && head.Idx != nil {
		buf.WriteString("id: " + strconv.FormatInt(*head.Idx, 10) + "\n")
	}
	// Only invalid JSON still holds a line break here; written as
	// several data lines, it at least keeps the framing.
	for line := range bytes.FieldsFuncSeq(rec, func(r rune) bool { return r == '\n' || r == '\r' }) {
		buf.WriteString("data: ")
		buf.Write(line)
		buf.WriteByte('\n')
	}
	buf.WriteByte('\n')
}
