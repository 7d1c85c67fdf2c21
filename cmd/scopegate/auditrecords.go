package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scopegate/scopegate/internal/audit"
)

// This file reads records for people (tail, query): it lists the segment
// files, reads their complete lines, and turns each line into a short
// description. Nothing here verifies anything: that is "audit verify".
//
// A line is complete when its newline is written. The gateway may be in
// the middle of writing the last one; that partial line is left for the
// next read, never shown.

// maxRecordLine bounds a record line. The format's limit is 1 MiB; a
// longer line is not a record, and reading stops there.
const maxRecordLine = 1 << 20

// segmentFile is one segment of a log: segments/<first idx, 12 digits>.jsonl.
type segmentFile struct {
	first uint64
	path  string
}

// listSegments returns the segment files of the log directory dir, in
// order. Files with other names are not records and are skipped.
func listSegments(dir string) ([]segmentFile, error) {
	entries, err := os.ReadDir(filepath.Join(dir, auditSegmentsDir))
	if err != nil {
		return nil, fmt.Errorf("list audit segments: %w", err)
	}
	var segs []segmentFile
	for _, e := range entries {
		digits, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || fmt.Sprintf("%012d", first) != digits {
			continue
		}
		segs = append(segs, segmentFile{first: first, path: filepath.Join(dir, auditSegmentsDir, e.Name())})
	}
	slices.SortFunc(segs, func(a, b segmentFile) int { return cmp.Compare(a.first, b.first) })
	return segs, nil
}

// scanSegment calls fn with each complete line of the segment at path
// from byte offset from on (without its newline, valid only until fn
// returns) and the offset the line starts at. It returns the offset just
// past the last complete line: where the next scan starts. fn may stop the
// scan early with errStopScan.
func scanSegment(path string, from int64, fn func(line []byte, at int64) error) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return from, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return from, err
	}
	if st.Size() < from {
		return from, fmt.Errorf("%s: shorter (%d bytes) than what was already read (%d): records were removed; run scopegate audit verify",
			path, st.Size(), from)
	}
	br := bufio.NewReaderSize(io.NewSectionReader(f, from, st.Size()-from), 64<<10)
	end := from
	var long []byte // a line longer than br's buffer, being assembled
	for {
		chunk, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, chunk...)
			if len(long) > maxRecordLine {
				return end, fmt.Errorf("%s: the line at byte %d is longer than %d bytes: not an audit record", path, end, maxRecordLine)
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			return end, nil // what is left, if anything, is a line still being written
		}
		if err != nil {
			return end, err
		}
		line := chunk
		if long != nil {
			line, long = append(long, chunk...), nil
		}
		if err := fn(line[:len(line)-1], end); err != nil {
			if errors.Is(err, errStopScan) {
				return end, nil
			}
			return end, err
		}
		end += int64(len(line))
	}
}

// errStopScan ends scanSegment early without an error.
var errStopScan = errors.New("stop scan")

// lastLines returns the last n complete lines of the log directory dir and
// the position just past them, where following the log starts.
func lastLines(dir string, n int) ([][]byte, followPos, error) {
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		return nil, followPos{}, err
	}
	var (
		lines [][]byte
		pos   followPos
	)
	for i := len(segs) - 1; i >= 0 && (len(lines) < n || i == len(segs)-1); i-- {
		got, end, err := tailFile(segs[i].path, n-len(lines))
		if err != nil {
			return nil, followPos{}, err
		}
		if i == len(segs)-1 {
			pos = followPos{path: segs[i].path, offset: end}
		}
		lines = append(got, lines...)
	}
	return lines, pos, nil
}

// tailFile returns the last n complete lines of the file at path and the
// offset just past the last one. It reads backwards from the end, doubling
// what it reads until it holds n whole lines.
func tailFile(path string, n int) ([][]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := st.Size()
	for chunk := int64(64 << 10); ; chunk *= 2 {
		start := max(0, size-chunk)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, fmt.Errorf("read %s: %w", path, err)
		}
		complete := buf[:bytes.LastIndexByte(buf, '\n')+1]
		// Read from the middle of the file, the first line may be cut: it
		// counts only when a whole n lines follow it.
		if start > 0 && bytes.Count(complete, []byte("\n")) <= n {
			continue
		}
		end := start + int64(len(complete))
		if len(complete) == 0 || n == 0 {
			return nil, end, nil
		}
		lines := bytes.Split(complete[:len(complete)-1], []byte("\n"))
		if start > 0 {
			lines = lines[1:]
		}
		return lines[max(0, len(lines)-n):], end, nil
	}
}

// followPos is where following a log goes on from: the segment being read
// and the offset past its last complete line. The zero value is the start
// of a log that has no segment yet.
type followPos struct {
	path   string
	offset int64
}

// readNew calls fn with each complete line written after pos, in order,
// moving on to the next segment when one was started, and advances pos.
func (pos *followPos) readNew(dir string, fn func(line []byte) error) error {
	// List first: a segment that has a successor in this list was complete
	// before the listing, so reading it to its end misses nothing.
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	i := 0
	if pos.path != "" {
		i = slices.IndexFunc(segs, func(s segmentFile) bool { return s.path == pos.path })
		if i < 0 {
			return fmt.Errorf("%s is gone: records were removed; run scopegate audit verify", pos.path)
		}
	}
	for ; i < len(segs); i++ {
		if segs[i].path != pos.path {
			*pos = followPos{path: segs[i].path}
		}
		end, err := scanSegment(pos.path, pos.offset, func(line []byte, _ int64) error { return fn(line) })
		pos.offset = end
		if err != nil {
			return err
		}
	}
	return nil
}

// recordView is what people see of a record: its position, time, event
// and main fields, in display order (only the ones set).
type recordView struct {
	idx    uint64
	ts     time.Time
	event  string
	fields []viewField
}

type viewField struct{ name, value string }

// get returns the value of the field name, or "".
func (v recordView) get(name string) string {
	for _, f := range v.fields {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// viewRecord describes a record line. A line that audit.Decode refuses
// — an event type added after this binary was built — is read as plain
// JSON; a line that is not even that is an error.
func viewRecord(line []byte) (recordView, error) {
	r, err := audit.Decode(line)
	if err != nil {
		return viewJSON(line)
	}
	v := recordView{idx: r.Index, ts: r.Time, event: r.Event.EventName()}
	add := func(name, value string) {
		if value != "" {
			v.fields = append(v.fields, viewField{name, value})
		}
	}
	switch ev := r.Event.(type) {
	case audit.Authz:
		add("key", ev.KeyID)
		add("principal", ev.Principal)
		add("decision", ev.Decision)
		add("reason", ev.Reason)
		add("resource", ev.Resource)
		if ev.Decision != "allow" {
			add("scope", ev.Scope) // the scope that was missing
		}
		if ev.Status != 0 {
			add("status", strconv.Itoa(ev.Status))
		}
		add("req", ev.RequestID)
	case audit.Usage:
		add("key", ev.KeyID)
		add("outcome", ev.Outcome)
		add("status", strconv.Itoa(ev.Status))
		if ev.UsageKnown {
			add("tokens_in", strconv.FormatInt(ev.InputTokens, 10))
			add("tokens_out", strconv.FormatInt(ev.OutputTokens, 10))
		} else {
			add("tokens", "unknown")
		}
		add("latency_ms", strconv.FormatInt(ev.Latency.Milliseconds(), 10))
		add("req", ev.RequestID)
	case audit.Admin:
		add("actor", ev.Actor)
		add("target", ev.Target)
		add("principal", string(ev.Principal))
		var names []string
		for _, f := range ev.Fields {
			names = append(names, f.Name)
		}
		add("changes", strings.Join(names, ","))
	case audit.Override:
		add("reason", ev.Reason)
		add("signed_size", strconv.FormatUint(ev.SignedSize, 10))
		add("records", strconv.FormatUint(ev.Records, 10))
		add("superseded", ev.Superseded)
	case audit.Alert:
		add("subject", ev.Subject)
		add("principal", ev.Principal)
		add("figures", ev.Figures)
	}
	return v, nil
}

// jsonViewFields are the fields viewJSON shows, in order.
var jsonViewFields = []string{"key", "principal", "decision", "reason", "resource", "actor", "target", "req"}

// viewJSON describes a line that is a JSON object but not a record this
// binary decodes.
func viewJSON(line []byte) (recordView, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return recordView{}, errors.New("not a JSON object")
	}
	num, _ := m["idx"].(json.Number)
	idx, err := strconv.ParseUint(num.String(), 10, 64)
	if err != nil {
		return recordView{}, errors.New("no idx")
	}
	text, _ := m["ts"].(string)
	ts, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return recordView{}, errors.New("no ts")
	}
	v := recordView{idx: idx, ts: ts.UTC()}
	v.event, _ = m["event"].(string)
	for _, name := range jsonViewFields {
		switch x := m[name].(type) {
		case string:
			if x != "" {
				v.fields = append(v.fields, viewField{name, x})
			}
		case json.Number:
			v.fields = append(v.fields, viewField{name, x.String()})
		}
	}
	return v, nil
}

// recordTimeLayout is how a record's ts is written, and shown.
const recordTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// recordHeader heads the columns of formatRecord.
var recordHeader = fmt.Sprintf("%-24s  %-6s  %-17s  %s", "TIME", "IDX", "EVENT", "DETAILS")

// formatRecord returns the one line that shows v to people: time, position,
// event, and name=value for each field, quoted where a value could be
// misread (spaces, quotes, control characters).
func formatRecord(v recordView) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s  %-6d  %-17s ", v.ts.Format(recordTimeLayout), v.idx, displayValue(v.event))
	for _, f := range v.fields {
		b.WriteString(" ")
		b.WriteString(f.name)
		b.WriteString("=")
		b.WriteString(displayValue(f.value))
	}
	return strings.TrimRight(b.String(), " ")
}

// displayValue quotes s when it holds anything but printable characters
// other than space, '"', '=' and '\\', so that a value cannot pass for
// another field or drive the terminal.
func displayValue(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
