package adminclient

import (
	"bytes"
	"encoding/json"

	"github.com/scopegate/scopegate/internal/admin"
)

// Record is one record of the admin API: Value decoded into its wire type,
// and JSON exactly as the server sent it. Fields the server added after this
// client was built are in JSON even though Value drops them.
type Record[T any] struct {
	Value T
	JSON  json.RawMessage
}

// UnmarshalJSON implements json.Unmarshaler, keeping a copy of the input.
func (r *Record[T]) UnmarshalJSON(b []byte) error {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Value = v
	r.JSON = bytes.Clone(bytes.TrimSpace(b))
	return nil
}

// MarshalJSON implements json.Marshaler: the record as the server sent it,
// or Value encoded when there is no such text.
func (r Record[T]) MarshalJSON() ([]byte, error) {
	if len(r.JSON) == 0 {
		return json.Marshal(r.Value)
	}
	return r.JSON, nil
}

// Page is one page of a list answer: {"items":[…],"next":"…"}. Next is the
// cursor for the following page; empty on the last one.
type Page[T any] = admin.List[Record[T]]
