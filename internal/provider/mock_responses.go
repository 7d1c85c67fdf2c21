package provider

import (
	"encoding/json"
	"net/http"
)

// mockResponsesRequest is the part of a Responses request the mock reads.
type mockResponsesRequest struct {
	Model           string          `json:"model"`
	Input           json.RawMessage `json:"input"`
	Instructions    *string         `json:"instructions"`
	Stream          bool            `json:"stream"`
	MaxOutputTokens *int            `json:"max_output_tokens"`
}

// mockResponsesItem is an input item: a message (role and content), or a
// tool output (output).
type mockResponsesItem struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Output  json.RawMessage `json:"output"`
}

// texts returns the request's text and its last user message. Input is a
// string (one user message) or an array of items.
func (req *mockResponsesRequest) texts() (texts []string, lastUser string) {
	if req.Instructions != nil {
		texts = append(texts, *req.Instructions)
	}
	var s string
	if json.Unmarshal(req.Input, &s) == nil {
		return append(texts, s), s
	}
	var items []mockResponsesItem
	_ = json.Unmarshal(req.Input, &items) // anything else has no text
	for _, it := range items {
		t := mockText(it.Content) + mockText(it.Output)
		texts = append(texts, t)
		if it.Role == "user" {
			lastUser = t
		}
	}
	return texts, lastUser
}

// mockResponse is one Responses answer being built: the request, the turn
// and the IDs, from which each stage's response object is made.
type mockResponse struct {
	c      *mockCall
	req    *mockResponsesRequest
	turn   mockTurn
	id     string
	itemID string
}

func (m *mockServer) responses(c *mockCall) {
	var req mockResponsesRequest
	if !c.decode(&req) || !c.checkModel(req.Model) || !c.checkMaxTokens("max_output_tokens", req.MaxOutputTokens) {
		return
	}
	texts, lastUser := req.texts()
	r := &mockResponse{
		c: c, req: &req,
		turn:   newMockTurn(req.Model, mockWords(texts...), lastUser, req.MaxOutputTokens),
		id:     c.id("resp_mock", 0),
		itemID: c.id("msg_mock", 1),
	}
	if req.Stream {
		r.stream()
		return
	}
	c.writeJSON(http.StatusOK, r.object(true))
}

// status is the status of the finished response and of its message.
func (r *mockResponse) status() string {
	if r.turn.truncated {
		return "incomplete"
	}
	return "completed"
}

// part is the output_text content part holding text.
func (r *mockResponse) part(text string) map[string]any {
	return map[string]any{"type": "output_text", "text": text, "annotations": []any{}, "logprobs": []any{}}
}

// item is the output message, finished or just started.
func (r *mockResponse) item(finished bool) map[string]any {
	item := map[string]any{
		"id": r.itemID, "type": "message", "role": "assistant",
		"status": "in_progress", "content": []any{},
	}
	if finished {
		item["status"] = r.status()
		item["content"] = []any{r.part(r.turn.reply)}
	}
	return item
}

// object is the response object, finished (with output and usage) or as
// the stream's first events show it.
func (r *mockResponse) object(finished bool) map[string]any {
	obj := map[string]any{
		"id":                   r.id,
		"object":               "response",
		"created_at":           r.c.created,
		"status":               "in_progress",
		"error":                nil,
		"incomplete_details":   nil,
		"instructions":         r.req.Instructions,
		"max_output_tokens":    r.req.MaxOutputTokens,
		"model":                r.req.Model,
		"output":               []any{},
		"parallel_tool_calls":  true,
		"previous_response_id": nil,
		"reasoning":            map[string]any{"effort": nil, "summary": nil},
		"store":                false, // the mock keeps nothing
		"temperature":          1.0,
		"text":                 map[string]any{"format": map[string]any{"type": "text"}},
		"tool_choice":          "auto",
		"tools":                []any{},
		"top_p":                1.0,
		"truncation":           "disabled",
		"usage":                nil,
		"user":                 nil,
		"metadata":             map[string]any{},
	}
	if finished {
		obj["status"] = r.status()
		obj["output"] = []any{r.item(true)}
		obj["usage"] = map[string]any{
			"input_tokens":          r.turn.input,
			"input_tokens_details":  map[string]any{"cached_tokens": 0},
			"output_tokens":         r.turn.output,
			"output_tokens_details": map[string]any{"reasoning_tokens": 0},
			"total_tokens":          r.turn.input + r.turn.output,
		}
		if r.turn.truncated {
			obj["incomplete_details"] = map[string]any{"reason": "max_output_tokens"}
		} else {
			obj["completed_at"] = r.c.created
		}
	}
	return obj
}

// stream sends the Responses events for one text message, in the order the
// API sends them, ending with response.completed (or response.incomplete
// when the reply was cut), whose response carries the usage.
func (r *mockResponse) stream() {
	s := r.c.startStream()
	seq := 0
	emit := func(typ string, fields map[string]any) bool {
		fields["sequence_number"] = seq
		seq++
		return s.sendTyped(typ, fields) == nil
	}
	at := func(fields map[string]any) map[string]any {
		fields["item_id"] = r.itemID
		fields["output_index"] = 0
		fields["content_index"] = 0
		return fields
	}
	ok := emit("response.created", map[string]any{"response": r.object(false)}) &&
		emit("response.in_progress", map[string]any{"response": r.object(false)}) &&
		emit("response.output_item.added", map[string]any{"output_index": 0, "item": r.item(false)}) &&
		emit("response.content_part.added", at(map[string]any{"part": r.part("")}))
	for _, d := range r.turn.chunks() {
		ok = ok && emit("response.output_text.delta", at(map[string]any{"delta": d, "logprobs": []any{}}))
	}
	final := "response.completed"
	if r.turn.truncated {
		final = "response.incomplete"
	}
	_ = ok &&
		emit("response.output_text.done", at(map[string]any{"text": r.turn.reply, "logprobs": []any{}})) &&
		emit("response.content_part.done", at(map[string]any{"part": r.part(r.turn.reply)})) &&
		emit("response.output_item.done", map[string]any{"output_index": 0, "item": r.item(true)}) &&
		emit(final, map[string]any{"response": r.object(true)})
}
