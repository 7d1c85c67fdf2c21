package admin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/admin"
)

// Requests that clash with the state of what they change: 409.

func TestConflict(t *testing.T) {
	idem := func(v string) http.Header { return http.Header{"Idempotency-Key": {v}} }
	tests := []struct {
		name string
		// first is done with the root key on the key k, and must succeed;
		// then is done on k and must answer 409. "{k}" and "{other}" in
		// paths are replaced by the ids of two keys of alice.
		first []request
		then  request
		msg   string
	}{
		{
			name: "DuplicatePrincipal",
			then: request{method: "POST", path: "/admin/v1/principals", body: `{"id":"alice@example.com"}`},
			msg:  `principal "alice@example.com" already exists`,
		},
		{
			name:  "ResumeRevoked",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/revoke"}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/resume"},
			msg:   "revoked and cannot be resumed",
		},
		{
			name:  "SuspendRevoked",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/revoke"}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/suspend"},
			msg:   "is revoked",
		},
		{
			name:  "PatchRevoked",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/revoke"}},
			then:  request{method: "PATCH", path: "/admin/v1/keys/{k}", body: `{"name":"back"}`},
			msg:   "is revoked",
		},
		{
			name:  "RotateRevoked",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/revoke"}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/rotate"},
			msg:   "cannot be rotated",
		},
		{
			name:  "RotateSuspended",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/suspend"}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/rotate"},
			msg:   "cannot be rotated",
		},
		{
			name:  "RotateTwice",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/rotate"}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/rotate"},
			msg:   "already rotated",
		},
		{
			name:  "RotateTwiceWithOtherIdempotencyKey",
			first: []request{{method: "POST", path: "/admin/v1/keys/{k}/rotate", header: idem("first")}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/rotate", header: idem("second")},
			msg:   "already rotated",
		},
		{
			name:  "IdempotencyKeyReusedForAnotherKey",
			first: []request{{method: "POST", path: "/admin/v1/keys/{other}/rotate", header: idem("once")}},
			then:  request{method: "POST", path: "/admin/v1/keys/{k}/rotate", header: idem("once")},
			msg:   "Idempotency-Key was already used for a different request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newAliceEnv(t)
			k, _ := env.dataKey(t, alice, "chatbot")
			other, _ := env.dataKey(t, alice, "chatbot")
			ids := map[string]string{"{k}": string(k.ID), "{other}": string(other.ID)}
			expand := func(req request) request {
				for name, id := range ids {
					req.path = strings.ReplaceAll(req.path, name, id)
				}
				req.key = env.rootKey
				return req
			}
			for _, req := range tt.first {
				req = expand(req)
				if resp := env.do(t, req); resp.status >= 300 {
					t.Fatalf("%s %s = %d %s", req.method, req.path, resp.status, resp.body)
				}
			}
			before := call[admin.List[admin.Key]](t, env, request{method: "GET", path: "/admin/v1/keys", key: env.rootKey}, 200)
			got := errorOf(t, env.do(t, expand(tt.then)), http.StatusConflict)
			wantError(t, got, "conflict", "", tt.msg)
			after := call[admin.List[admin.Key]](t, env, request{method: "GET", path: "/admin/v1/keys", key: env.rootKey}, 200)
			diff(t, "keys after a conflict", after, before)
		})
	}
}
