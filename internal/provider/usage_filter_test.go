package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// usageChunk is the chunk include_usage adds, as OpenAI sends it.
const usageChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19}}` + "\n\n"

// contentChunk is a chat chunk carrying content.
const contentChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}` + "\n\n"

const doneEvent = "data: [DONE]\n\n"

func TestUsageChunkFilter(t *testing.T) {
	withoutUsage := strings.Replace(openAIChatStream, strings.Split(openAIChatStream, "\n\n")[3]+"\n\n", "", 1)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"OpenAIChat", openAIChatStream, withoutUsage},
		{"CRLF", strings.ReplaceAll(openAIChatStream, "\n", "\r\n"), strings.ReplaceAll(withoutUsage, "\n", "\r\n")},
		{"CR", strings.ReplaceAll(openAIChatStream, "\n", "\r"), strings.ReplaceAll(withoutUsage, "\n", "\r")},
		{"MixedLineEnds", contentChunk + "data: {\"choices\":[],\"usage\":{}}\r\n\r" + "\n" + doneEvent,
			contentChunk + doneEvent},
		{"CRThenCRLF", "data: {\"choices\":[],\"usage\":{}}\r\r\n" + doneEvent, doneEvent},
		{"NoUsageChunk", withoutUsage, withoutUsage},
		{"Completions", `data: {"id":"cmpl-1","object":"text_completion","choices":[{"text":"Hi","index":0,"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" +
			`data: {"id":"cmpl-1","object":"text_completion","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}` + "\n\n" + doneEvent,
			`data: {"id":"cmpl-1","object":"text_completion","choices":[{"text":"Hi","index":0,"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n" + doneEvent},
		{"UsageChunkNotLast", usageChunk + contentChunk + doneEvent, contentChunk + doneEvent},
		{"Spaces", contentChunk + "data:{ \"usage\" : {\"prompt_tokens\":1} , \"choices\" : [ \t] }\n\n" + doneEvent, contentChunk + doneEvent},
		{"MultiLineData", contentChunk + "data: {\"choices\":[\ndata: ],\"usage\":\ndata: {\"prompt_tokens\":1}}\n\n" + doneEvent, contentChunk + doneEvent},
		{"WithFieldsAndComments", contentChunk + ": keep-alive\nevent: chunk\nid: 7\n" + usageChunk + doneEvent, contentChunk + doneEvent},
		{"UsageNull", `data: {"choices":[],"usage":null}` + "\n\n" + doneEvent, `data: {"choices":[],"usage":null}` + "\n\n" + doneEvent},
		{"UsageWithChoices", `data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}}` + "\n\n",
			`data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":1}}` + "\n\n"},
		{"NoChoices", `data: {"usage":{"prompt_tokens":1}}` + "\n\n", `data: {"usage":{"prompt_tokens":1}}` + "\n\n"},
		{"ChoicesNotArray", `data: {"choices":{},"usage":{"prompt_tokens":1}}` + "\n\n", `data: {"choices":{},"usage":{"prompt_tokens":1}}` + "\n\n"},
		{"NestedLookAlike", `data: {"choices":[{"delta":{"content":"{\"choices\":[],\"usage\":{}}"}}],"x":{"choices":[],"usage":{}}}` + "\n\n",
			`data: {"choices":[{"delta":{"content":"{\"choices\":[],\"usage\":{}}"}}],"x":{"choices":[],"usage":{}}}` + "\n\n"},
		{"NotData", "event: x\nid: {\"choices\":[],\"usage\":{}}\n\n", "event: x\nid: {\"choices\":[],\"usage\":{}}\n\n"},
		{"Error", `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n", `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n"},
		{"BlankLines", "\n\r\n" + usageChunk + "\n\n" + doneEvent, "\n\r\n\n\n" + doneEvent},
		{"CommentOnly", ": ping\n\n" + usageChunk, ": ping\n\n"},
		{"EndsInsideUsageChunk", contentChunk + strings.TrimSuffix(usageChunk, "\n"), contentChunk + strings.TrimSuffix(usageChunk, "\n")},
		{"Empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(how string, src io.Reader) {
				t.Helper()
				got, err := io.ReadAll(NewUsageChunkFilter(src))
				if err != nil {
					t.Fatalf("%s: ReadAll: %v", how, err)
				}
				if string(got) != tt.want {
					t.Fatalf("%s: filtered\n%q\nwant\n%q", how, got, tt.want)
				}
			}
			in := []byte(tt.in)
			for k := range len(in) + 1 {
				check("split at "+strconv.Itoa(k), &piecesReader{pieces: [][]byte{in[:k], in[k:]}})
			}
			check("byte by byte", iotest.OneByteReader(bytes.NewReader(in)))
			check("EOF with data", iotest.DataErrReader(bytes.NewReader(in)))
			rng := rand.New(rand.NewPCG(1, 2))
			for range 50 {
				check("random pieces", &piecesReader{pieces: randomPieces(rng, in, 40)})
			}
			if err := iotest.TestReader(NewUsageChunkFilter(bytes.NewReader(in)), []byte(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// piecesReader returns its pieces, one per Read (in parts when the
// buffer is shorter), then io.EOF. Before each Read it calls before, if
// set, with the number of bytes returned so far.
type piecesReader struct {
	pieces [][]byte
	read   int
	before func(read int)
	err    error // returned after the pieces instead of io.EOF
}

func (r *piecesReader) Read(p []byte) (int, error) {
	if r.before != nil {
		r.before(r.read)
	}
	if len(r.pieces) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	if r.pieces[0] = r.pieces[0][n:]; len(r.pieces[0]) == 0 {
		r.pieces = r.pieces[1:]
	}
	r.read += n
	return n, nil
}

// randomPieces cuts b into pieces of at most max bytes, some empty.
func randomPieces(rng *rand.Rand, b []byte, max int) [][]byte {
	var pieces [][]byte
	for len(b) > 0 {
		n := min(len(b), rng.IntN(max+1))
		pieces = append(pieces, b[:n])
		b = b[n:]
	}
	return pieces
}

// TestUsageChunkFilterNoDelay checks that the filter holds back only the
// event being received: once a piece of the stream is read from the
// source, every event it completes is returned before the source is read
// again.
func TestUsageChunkFilterNoDelay(t *testing.T) {
	stream := []byte(contentChunk + usageChunk + contentChunk + ": ping\r\n\r" + "\n" + usageChunk + doneEvent)
	for _, size := range []int{1, 7, 100, 300, len(stream)} {
		t.Run("Pieces"+strconv.Itoa(size), func(t *testing.T) {
			var out []byte
			src := &piecesReader{pieces: slices.Collect(slices.Chunk(stream, size))}
			src.before = func(read int) {
				// The filter asks for more: it must have returned every
				// event that the bytes read so far complete.
				prefix := stream[:read]
				if want, _ := referenceFilter(prefix); !bytes.Equal(out, want) {
					t.Fatalf("after %d bytes of the source, the filter returned\n%q\nwant\n%q", len(prefix), out, want)
				}
			}
			if err := readAll(NewUsageChunkFilter(src), &out); err != nil {
				t.Fatal(err)
			}
			if want, _ := referenceFilter(stream); !bytes.Equal(out, want) {
				t.Errorf("filtered %q, want %q", out, want)
			}
		})
	}
}

// readAll is io.ReadAll into *out, so that a piecesReader's before sees
// what has been read so far.
func readAll(r io.Reader, out *[]byte) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		*out = append(*out, buf[:n]...)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// TestUsageChunkFilterLongEvent checks that an event longer than the cap
// is passed on as it arrives, unfiltered, and that the filter holds no
// more than the cap.
func TestUsageChunkFilterLongEvent(t *testing.T) {
	long := []byte(`data: {"choices":[],"usage":{"x":"` + strings.Repeat("x", 3<<20) + `"}}` + "\n\n")
	stream := slices.Concat(long, []byte(contentChunk+usageChunk+doneEvent))
	var out []byte
	src := &piecesReader{pieces: slices.Collect(slices.Chunk(stream, 32<<10))}
	f := NewUsageChunkFilter(src)
	src.before = func(read int) {
		if read < len(long) && len(out) < read-maxHeldEvent-filterBufSize {
			t.Fatalf("after %d bytes of a long event, the filter returned %d: it holds more than the cap", read, len(out))
		}
		if cap(f.buf) > 2*(maxHeldEvent+filterBufSize) {
			t.Fatalf("the filter holds %d bytes, want about %d at most", cap(f.buf), maxHeldEvent)
		}
	}
	if err := readAll(f, &out); err != nil {
		t.Fatal(err)
	}
	if want := slices.Concat(long, []byte(contentChunk+doneEvent)); !bytes.Equal(out, want) {
		t.Errorf("filtered %d bytes, want the long event unfiltered and the usage chunk removed (%d bytes)", len(out), len(want))
	}
}

// TestUsageChunkFilterSourceError checks that what the source sent before
// failing, the event it failed in included, is passed on before its
// error.
func TestUsageChunkFilterSourceError(t *testing.T) {
	errBroken := errors.New("connection reset")
	in := []byte(contentChunk + usageChunk + `data: {"choices":[],"usage":{"prom`)
	f := NewUsageChunkFilter(&piecesReader{pieces: slices.Collect(slices.Chunk(in, 50)), err: errBroken})
	got, err := io.ReadAll(f)
	if !errors.Is(err, errBroken) {
		t.Errorf("ReadAll error %v, want %v", err, errBroken)
	}
	if want := contentChunk + `data: {"choices":[],"usage":{"prom`; string(got) != want {
		t.Errorf("filtered %q, want %q", got, want)
	}
	if n, err := f.Read(make([]byte, 10)); n != 0 || !errors.Is(err, errBroken) {
		t.Errorf("Read after the error = %d, %v; want 0, %v", n, err, errBroken)
	}
}

func TestUsageChunkFilterNoProgress(t *testing.T) {
	f := NewUsageChunkFilter(&piecesReader{pieces: make([][]byte, 2*maxEmptyReads)})
	if n, err := f.Read(make([]byte, 10)); n != 0 || !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Read from a source returning nothing = %d, %v; want 0, io.ErrNoProgress", n, err)
	}
}

// referenceFilter is the filter's specification, on a whole stream: the
// events that end in it (as sseEvents splits them) with the usage chunks
// removed, and the bytes after the last event, which the filter holds
// until the stream ends. (Events longer than the filter's cap may be
// passed on instead: see removesOnlyUsageChunks.)
func referenceFilter(s []byte) (out, tail []byte) {
	events, tail := sseEvents(s)
	for _, ev := range events {
		if !isUsageChunk(ev) {
			out = append(out, ev...)
		}
	}
	return out, tail
}

// sseEvents splits s into its events as the SSE specification reads
// them, independently of the filter: lines end with "\r\n", "\n" or "\r",
// and an event ends with the line end of a blank line. The bytes after
// the last event are the tail.
func sseEvents(s []byte) (events [][]byte, tail []byte) {
	start, lineStart := 0, 0
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\r' && c != '\n' {
			i++
			continue
		}
		end := i + 1
		if c == '\r' && end < len(s) && s[end] == '\n' {
			end++
		}
		blank := i == lineStart
		i, lineStart = end, end
		if blank {
			events = append(events, s[start:end])
			start = end
		}
	}
	return events, s[start:]
}

// jsonUsageChunk is isUsageChunk with encoding/json, for data that is
// valid JSON without duplicate top-level names; ok is false for other
// data.
func jsonUsageChunk(ev []byte) (usage, ok bool) {
	if bytes.ContainsRune(ev, '\r') {
		return false, false // strings.Lines splits at '\n' only
	}
	var data []string
	for line := range strings.Lines(string(ev)) {
		line = strings.TrimRight(line, "\r\n")
		if v, found := strings.CutPrefix(line, "data"); found && (v == "" || v[0] == ':') {
			v = strings.TrimPrefix(strings.TrimPrefix(v, ":"), " ")
			data = append(data, v)
		}
	}
	d := []byte(strings.Join(data, "\n"))
	if !json.Valid(d) {
		return false, false
	}
	dec := json.NewDecoder(bytes.NewReader(d))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false, true
	}
	top := map[string]json.RawMessage{}
	for dec.More() {
		tok, _ := dec.Token()
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false, false
		}
		if _, dup := top[tok.(string)]; dup {
			return false, false
		}
		top[tok.(string)] = v
	}
	var choices []json.RawMessage
	c, hasChoices := top["choices"]
	u, hasUsage := top["usage"]
	return hasChoices && bytes.HasPrefix(c, []byte("[")) && json.Unmarshal(c, &choices) == nil && len(choices) == 0 &&
		hasUsage && string(u) != "null", true
}

// FuzzUsageChunkFilter checks that for any stream, read in any pieces,
// the filter's output is the stream with whole usage chunks removed:
// every one no longer than the cap, perhaps some longer ones; and that
// isUsageChunk agrees with encoding/json.
func FuzzUsageChunkFilter(f *testing.F) {
	// Small seeds: the fuzzer minimizes what it finds in time quadratic
	// in the input's size.
	for _, s := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1}}\n\ndata: [DONE]\n\n",
		"data: {\"choices\":[],\"usage\":{}}\r\n\r\n: x\r\n\r\ndata: [DONE]\r\n\r\n",
		"data: {\"choices\":[],\"usage\":{}}\r\rdata: {\"choices\":[ ],\"usage\":1}\r\r\n",
		"data: {\"choices\":[\ndata: ],\"usage\":{}}\r\r\n\n" + "event: e\ndata:{\"usage\":2,\"choices\":[]}\n\n",
		": x\n\n\r\r\n", "data: {\"choices\":[],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{}}",
	} {
		f.Add([]byte(s), uint64(1), uint16(0))
		f.Add([]byte(s), uint64(2), uint16(40))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, maxHeld uint16) {
		events, _ := sseEvents(in)
		for _, ev := range events {
			if want, ok := jsonUsageChunk(ev); ok && isUsageChunk(ev) != want {
				t.Fatalf("isUsageChunk(%q) = %v, encoding/json says %v", ev, !want, want)
			}
		}
		rng := rand.New(rand.NewPCG(seed, 0))
		src := &piecesReader{pieces: randomPieces(rng, in, 1+rng.IntN(64))}
		filter := NewUsageChunkFilter(src)
		if maxHeld > 0 {
			filter.maxHeld = int(maxHeld)
		}
		out, err := io.ReadAll(filter)
		if err != nil {
			t.Fatal(err)
		}
		if !removesOnlyUsageChunks(in, out, filter.maxHeld) {
			want, tail := referenceFilter(in)
			t.Fatalf("filtered\n%q\ninto\n%q\nwant\n%q (usage chunks longer than %d may be kept)", in, out, append(want, tail...), filter.maxHeld)
		}
	})
}

// removesOnlyUsageChunks reports whether out is in with every usage chunk
// no longer than maxHeld removed, perhaps some longer ones too, and
// nothing else changed.
func removesOnlyUsageChunks(in, out []byte, maxHeld int) bool {
	events, tail := sseEvents(in)
	// The offsets in out that the events so far can have brought it to.
	at := map[int]bool{0: true}
	for _, ev := range events {
		next := map[int]bool{}
		usage := isUsageChunk(ev)
		for pos := range at {
			if usage {
				next[pos] = true
			}
			if (!usage || len(ev) > maxHeld) && bytes.HasPrefix(out[pos:], ev) {
				next[pos+len(ev)] = true
			}
		}
		at = next
	}
	for pos := range at {
		if bytes.Equal(out[pos:], tail) {
			return true
		}
	}
	return false
}

func BenchmarkUsageChunkFilter(b *testing.B) {
	s := []byte(strings.Repeat(strings.Join(strings.Split(openAIChatStream, "\n\n")[1:2], "")+"\n\n", 200) + openAIChatStream)
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		f := NewUsageChunkFilter(bytes.NewReader(s))
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
	}
}
