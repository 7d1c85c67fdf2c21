package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"
)

// maxBodyBytes caps request bodies. The largest real body, a key with a
// few hundred scopes and CIDRs, is a few kilobytes.
const maxBodyBytes = 1 << 20

// encode answers v as JSON with status. A value that cannot be encoded is
// a bug, answered as a 500 before anything is written.
func encode[T any](w http.ResponseWriter, r *http.Request, logger *slog.Logger, status int, v T) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, r, logger, fmt.Errorf("encode %T: %w", v, err))
		return
	}
	writeBody(w, status, append(b, '\n'))
}

// writeJSON answers v, which must be encodable, as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"type":"internal","message":"internal error"}}`)
		status = http.StatusInternalServerError
	}
	writeBody(w, status, append(b, '\n'))
}

// writeBody answers b, a JSON document, with status.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Answers may hold a new key, and none of them should sit in a cache.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// decode reads the request body strictly into a T: Content-Type
// application/json, at most maxBodyBytes, exactly one JSON object, no
// unknown fields. Its errors are *requestError values that name the field
// at fault when there is one.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	body, err := readBody(w, r)
	if err != nil {
		return v, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return v, badRequest("", "request body is empty; send a JSON object")
	}
	return v, unmarshalStrict(r, body, &v)
}

// decodeOptional is decode for requests whose body may be left out, such
// as a rotation with the default grace: an empty body is the zero T.
func decodeOptional[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	body, err := readBody(w, r)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return v, err
	}
	return v, unmarshalStrict(r, body, &v)
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge,
			message: fmt.Sprintf("request body is larger than %d bytes", maxBodyBytes)}
	}
	if err != nil {
		return nil, badRequest("", "reading request body: %v", err)
	}
	return body, nil
}

func unmarshalStrict(r *http.Request, body []byte, v any) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return &requestError{status: http.StatusUnsupportedMediaType,
			message: "Content-Type must be application/json"}
	}
	if trimmed := bytes.TrimSpace(body); trimmed[0] != '{' {
		return badRequest("", "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, body, v)
	}
	// Exactly one value: "{...} {...}" or "{...}x" is a client bug that
	// must not be half-applied.
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "request body has data after the JSON object; send exactly one")
	}
	return nil
}

// decodeError turns an encoding/json error into a requestError that names
// the field at fault.
func decodeError(err error, body []byte, v any) error {
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return badRequest("", "request body is not valid JSON: %v (at byte %d)", e, e.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("", "request body ends in the middle of a JSON value")
	}
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if e.Field == "" {
			return badRequest("", "request body must be a JSON object")
		}
		return badRequest(e.Field, "must be %s, not %s", jsonKind(e.Type), e.Value)
	}
	// encoding/json reports an unknown field only in its message.
	if name, ok := unknownField(err.Error()); ok {
		field := fieldPath(body, name)
		return badRequest(field, "unknown field (the fields of each request are in /admin/v1/openapi.json)")
	}
	// Errors from a field's own UnmarshalJSON (time.Time) do not name the
	// field; find it by decoding the fields one at a time.
	field := failingField(body, v)
	if _, ok := errors.AsType[*time.ParseError](err); ok || strings.Contains(err.Error(), "Time.UnmarshalJSON") {
		return badRequest(field, "must be an RFC 3339 time such as \"2030-01-02T15:04:05Z\"")
	}
	return badRequest(field, "%v", err)
}

// unknownField extracts the name from encoding/json's `json: unknown field
// "name"` error.
func unknownField(msg string) (string, bool) {
	_, rest, ok := strings.Cut(msg, "unknown field ")
	if !ok {
		return "", false
	}
	var name string
	if _, err := fmt.Sscanf(rest, "%q", &name); err != nil {
		return "", false
	}
	return name, true
}

// fieldPath returns the dotted path of the field called name in body:
// name itself if it is a top-level field, else "parent.name" for the first
// object-valued field that holds it. encoding/json names only the last
// part of an unknown field, and the wire types nest one level deep.
func fieldPath(body []byte, name string) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return name
	}
	if _, ok := top[name]; ok {
		return name
	}
	for _, parent := range slices.Sorted(maps.Keys(top)) {
		var inner map[string]json.RawMessage
		if json.Unmarshal(top[parent], &inner) == nil {
			if _, ok := inner[name]; ok {
				return parent + "." + name
			}
		}
	}
	return name
}

// failingField returns the JSON name of the first top-level field of the
// struct v points to whose value in body does not decode on its own, or ""
// when none fails alone. When that field is itself an object (such as
// limits), the name is the dotted path of the failing field inside it
// ("limits.cost_per_day"), one level down, as the wire types nest.
func failingField(body []byte, v any) string {
	return failingFieldOf(body, reflect.TypeOf(v).Elem(), 2)
}

func failingFieldOf(body []byte, t reflect.Type, depth int) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return ""
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		msg, ok := raw[name]
		if !ok {
			continue
		}
		if json.Unmarshal(msg, reflect.New(f.Type).Interface()) == nil {
			continue
		}
		inner := f.Type
		for inner.Kind() == reflect.Pointer {
			inner = inner.Elem()
		}
		if depth > 1 {
			if sub := failingFieldOf(msg, inner, depth-1); sub != "" {
				return name + "." + sub
			}
		}
		return name
	}
	return ""
}

// jsonKind names the JSON kind of value a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.String()
}
