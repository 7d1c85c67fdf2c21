package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// Requests refused as malformed or invalid: 400 naming the field, and the
// other statuses of a refused request (405, 413, 415).

func TestBadRequest(t *testing.T) {
	env := newAliceEnv(t)
	k, _ := env.dataKey(t, alice, "chatbot")
	keyPath := "/admin/v1/keys/" + string(k.ID)
	createKey := func(body string) request { return request{method: "POST", path: "/admin/v1/keys", body: body} }
	tests := []struct {
		name  string
		req   request
		field string
		msg   string
	}{
		// What the Issuer refuses.
		{"MalformedScope", createKey(`{"principal":"alice@example.com","scopes":["Chatbot"]}`), "scopes", `invalid scope "Chatbot"`},
		{"MalformedResource", createKey(`{"principal":"alice@example.com","scopes":["chatbot:gpt*4"]}`), "scopes", "'*' is allowed only at the end"},
		{"ScopeOutsideCeiling", createKey(`{"principal":"alice@example.com","scopes":["data-retrieval:hr-docs"]}`), "scopes", "outside the ceiling"},
		{"TTLOverMaximum", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"366d"}`), "ttl", "exceeds the maximum"},
		{"ExpiresAtOverMaximum", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"expires_at":"2032-01-01T00:00:00Z"}`), "expires_at", "exceeds the maximum"},
		{"ExpiresAtInPast", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"expires_at":"2029-01-01T00:00:00Z"}`), "expires_at", "not in the future"},
		{"TTLAndExpiresAt", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"1h","expires_at":"2030-02-01T00:00:00Z"}`), "ttl", "not both"},
		{"UnknownPrincipal", createKey(`{"principal":"nobody@example.com","scopes":["chatbot"]}`), "principal", `unknown principal "nobody@example.com"`},
		{"RoleOnDataKey", createKey(`{"principal":"alice@example.com","scopes":["keys:self"]}`), "scopes", "admin role"},
		{"DataScopeOnAdminKey", createKey(`{"principal":"alice@example.com","kind":"admin","scopes":["chatbot"]}`), "scopes", "not an admin role"},
		{"BadEnv", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"env":"prod"}`), "env", "must be"},
		{"BadCIDR", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"cidrs":["10.0.0.0/33"]}`), "cidrs", "not a CIDR"},
		{"NegativeLimit", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"limits":{"concurrent":-1}}`), "limits.concurrent", "negative"},
		{"PrincipalID", request{method: "POST", path: "/admin/v1/principals", body: `{"id":"bad id","scopes":[]}`}, "id", "printable"},
		{"PrincipalKind", request{method: "POST", path: "/admin/v1/principals", body: `{"id":"x","kind":"robot"}`}, "kind", `"user" or "service"`},
		{"PrincipalPatchAudience", request{method: "PATCH", path: "/admin/v1/principals/alice@example.com", body: `{"audience":"everyone"}`}, "audience", "internal"},
		{"PatchScopeOutsideCeiling", request{method: "PATCH", path: keyPath, body: `{"scopes":["code-generation"]}`}, "scopes", "outside the ceiling"},
		{"GraceTooLong", request{method: "POST", path: keyPath + "/rotate", body: `{"grace":"31d"}`}, "grace", "between 0 and"},
		{"IdempotencyKeyTooLong", request{method: "POST", path: keyPath + "/rotate",
			header: http.Header{"Idempotency-Key": {strings.Repeat("k", 256)}}}, "Idempotency-Key", "longer than 255"},

		// What decoding refuses.
		{"BadJSON", createKey(`{principal:"alice@example.com"}`), "", "not valid JSON"},
		{"TruncatedJSON", createKey(`{"principal":"alice@example.com"`), "", "ends in the middle"},
		{"EmptyBody", createKey(``), "", "empty"},
		{"NotAnObject", createKey(`["alice@example.com"]`), "", "must be a JSON object"},
		{"Null", createKey(`null`), "", "must be a JSON object"},
		{"UnknownField", createKey(`{"principal":"alice@example.com","scope":["chatbot"]}`), "scope", "scope: unknown field"},
		{"UnknownNestedField", createKey(`{"principal":"alice@example.com","limits":{"rpm":5}}`), "limits.rpm", "limits.rpm: unknown field"},
		{"TrailingValue", createKey(`{"principal":"alice@example.com","scopes":["chatbot"]} {}`), "", "after the JSON object"},
		{"TrailingGarbage", createKey(`{"principal":"alice@example.com","scopes":["chatbot"]}x`), "", "after the JSON object"},
		{"WrongType", createKey(`{"principal":"alice@example.com","scopes":"chatbot"}`), "scopes", "must be an array, not string"},
		{"WrongTypeNested", createKey(`{"principal":"alice@example.com","limits":{"concurrent":"4"}}`), "limits.concurrent", "must be an integer"},
		{"NotAnInteger", createKey(`{"principal":"alice@example.com","limits":{"concurrent":1.5}}`), "limits.concurrent", "must be an integer"},
		{"CostAsString", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"limits":{"cost_per_day":"12.5"}}`), "limits.cost_per_day", "limits.cost_per_day: must be a number of US dollars"},
		{"CostTooFine", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"limits":{"cost_per_day":0.0000001}}`), "limits.cost_per_day", "more than 6 decimal places"},
		{"CostNegative", request{method: "PATCH", path: "/admin/v1/principals/alice@example.com", body: `{"limits":{"cost_per_month":-5}}`}, "limits.cost_per_month", "must not be negative"},
		{"CostTooLarge", request{method: "PATCH", path: keyPath, body: `{"limits":{"cost_per_month":1e20}}`}, "limits.cost_per_month", "too large"},
		{"BadTime", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"expires_at":"tomorrow"}`), "expires_at", "RFC 3339"},
		{"TimeNotString", request{method: "PATCH", path: keyPath, body: `{"expires_at":1893456000}`}, "expires_at", "RFC 3339"},
		{"BadKind", createKey(`{"principal":"alice@example.com","kind":"root","scopes":["chatbot"]}`), "kind", `"data" or "admin"`},
		{"BadTTL", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"90 days"}`), "ttl", "not a duration"},
		{"NegativeTTL", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"-1h"}`), "ttl", "not a duration"},
		{"ZeroTTL", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"0d"}`), "ttl", "longer than zero"},
		{"DaysOverflow", createKey(`{"principal":"alice@example.com","scopes":["chatbot"],"ttl":"999999999d"}`), "ttl", "not a duration"},
		{"BadGrace", request{method: "POST", path: keyPath + "/rotate", body: `{"grace":"soon"}`}, "grace", "not a duration"},
		{"GraceWrongType", request{method: "POST", path: keyPath + "/rotate", body: `{"grace":24}`}, "grace", "must be a string"},
		{"IdempotencyKeyTwice", request{method: "POST", path: keyPath + "/rotate",
			header: http.Header{"Idempotency-Key": {"a", "b"}}}, "Idempotency-Key", "more than once"},
		{"IdempotencyKeySpace", request{method: "POST", path: keyPath + "/rotate",
			header: http.Header{"Idempotency-Key": {"a b"}}}, "Idempotency-Key", "printable ASCII"},

		// What list queries refuse.
		{"LimitZero", request{method: "GET", path: "/admin/v1/keys?limit=0"}, "limit", "1 to 500"},
		{"LimitNegative", request{method: "GET", path: "/admin/v1/keys?limit=-1"}, "limit", "1 to 500"},
		{"LimitTooLarge", request{method: "GET", path: "/admin/v1/principals?limit=501"}, "limit", "1 to 500"},
		{"LimitNotANumber", request{method: "GET", path: "/admin/v1/keys?limit=ten"}, "limit", "1 to 500"},
		{"LimitFraction", request{method: "GET", path: "/admin/v1/keys?limit=2.5"}, "limit", "1 to 500"},
		{"LimitTwice", request{method: "GET", path: "/admin/v1/keys?limit=1&limit=2"}, "limit", "more than once"},
		{"KeyStatus", request{method: "GET", path: "/admin/v1/keys?status=expired"}, "status", `"active", "suspended" or "revoked"`},
		{"PrincipalStatus", request{method: "GET", path: "/admin/v1/principals?status=suspended"}, "status", `"active" or "disabled"`},
		{"PrincipalParam", request{method: "GET", path: "/admin/v1/keys?principal=bad%20id"}, "principal", "not a valid principal id"},
		{"UnknownParam", request{method: "GET", path: "/admin/v1/keys?owner=alice"}, "owner", "unknown query parameter"},
		{"PrincipalFilterOnPrincipals", request{method: "GET", path: "/admin/v1/principals?principal=alice"}, "principal", "unknown query parameter"},
		{"MalformedQuery", request{method: "GET", path: "/admin/v1/keys?team=%zz"}, "", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = env.rootKey
			got := errorOf(t, env.do(t, tt.req), http.StatusBadRequest)
			wantError(t, got, "invalid_request", tt.field, tt.msg)
		})
	}
	// Nothing above may have changed the key.
	if got, err := env.issuer.Key(t.Context(), apikey.SystemActor, k.ID); err != nil || got.ReplacedBy != "" || got.Status != apikey.StatusActive {
		t.Errorf("key after refused requests: %+v, %v; want it unchanged", got, err)
	}
}

// An admin key may not hand out a role above its own. The Issuer refuses
// it as an invalid value of "scopes" (400), not as a forbidden operation.
func TestGrantAboveOwnRole(t *testing.T) {
	env := newTestEnv(t)
	env.principal(t, apikey.PrincipalSpec{ID: "alice@example.com", Team: "red", Scopes: []string{"keys:team", "keys:self"}})
	env.principal(t, apikey.PrincipalSpec{ID: "bob@example.com", Team: "red", Scopes: []string{"keys:team"}})
	env.principal(t, apikey.PrincipalSpec{ID: "dave@example.com", Team: "red", Scopes: []string{"admin", "chatbot"}})
	_, aliceKey := env.adminKey(t, "alice@example.com", "keys:self")
	_, bobKey := env.adminKey(t, "bob@example.com", "keys:team")
	tests := []struct {
		name      string
		caller    string
		principal string
		role      string
	}{
		{"TeamGrantsAdmin", bobKey, "dave@example.com", "admin"},
		{"SelfGrantsTeam", aliceKey, "alice@example.com", "keys:team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.do(t, request{method: "POST", path: "/admin/v1/keys", key: tt.caller,
				body: `{"principal":"` + tt.principal + `","kind":"admin","scopes":["` + tt.role + `"]}`})
			wantError(t, errorOf(t, resp, http.StatusBadRequest), "invalid_request", "scopes", "above the caller's own")
		})
	}
}

func TestRequestRefused(t *testing.T) {
	env := newAliceEnv(t)
	k, _ := env.dataKey(t, alice, "chatbot")
	tests := []struct {
		name   string
		req    request
		status int
		msg    string
	}{
		{"TooLarge", request{method: "POST", path: "/admin/v1/keys",
			body: `{"name":"` + strings.Repeat("x", 1<<20) + `"}`}, http.StatusRequestEntityTooLarge, "larger than 1048576 bytes"},
		{"NotJSON", request{method: "POST", path: "/admin/v1/principals", body: `{"id":"x"}`,
			header: http.Header{"Content-Type": {"text/plain"}}}, http.StatusUnsupportedMediaType, "application/json"},
		{"NoContentType", request{method: "PATCH", path: "/admin/v1/keys/" + string(k.ID), body: `{"name":"x"}`,
			header: http.Header{"Content-Type": nil}}, http.StatusUnsupportedMediaType, "application/json"},
		{"RotateFormBody", request{method: "POST", path: "/admin/v1/keys/" + string(k.ID) + "/rotate", body: `grace=1h`,
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}}, http.StatusUnsupportedMediaType, "application/json"},
		{"MethodNotAllowed", request{method: "DELETE", path: "/admin/v1/keys/" + string(k.ID)}, http.StatusMethodNotAllowed, "GET, HEAD, PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = env.rootKey
			resp := env.do(t, tt.req)
			wantError(t, errorOf(t, resp, tt.status), "invalid_request", "", tt.msg)
		})
	}
}

func TestExplainBadRequest(t *testing.T) {
	env := newExplainEnv(t, allowed)
	id := string(env.dataKey.ID)
	explain := func(body string) request { return request{method: "POST", path: "/admin/v1/explain", body: body} }
	tests := []struct {
		name  string
		req   request
		field string
		msg   string
	}{
		{"NoKey", explain(`{"method":"POST","path":"/v1/chat/completions"}`), "key_id", "required"},
		{"KeyAndKeyID", explain(`{"key_id":"` + id + `","key":"` + env.dataText + `","method":"POST","path":"/v1/x"}`), "key_id", "not both"},
		{"MalformedKey", explain(`{"key":"sgk_live_nonsense","method":"POST","path":"/v1/x"}`), "key", "malformed API key"},
		{"BadKeyChecksum", explain(`{"key":"` + badChecksum(env.dataText) + `","method":"POST","path":"/v1/x"}`), "key", "checksum"},
		{"WholeKeyAsKeyID", explain(`{"key_id":"` + env.dataText + `","method":"POST","path":"/v1/x"}`), "key_id", "whole key"},
		{"NoMethod", explain(`{"key_id":"` + id + `","path":"/v1/chat/completions"}`), "method", "required"},
		{"BadMethod", explain(`{"key_id":"` + id + `","method":"PO ST","path":"/v1/chat/completions"}`), "method", "HTTP method"},
		{"NoPath", explain(`{"key_id":"` + id + `","method":"POST"}`), "path", "required"},
		{"RelativePath", explain(`{"key_id":"` + id + `","method":"POST","path":"v1/chat/completions"}`), "path", "request path"},
		{"PathWithSpace", explain(`{"key_id":"` + id + `","method":"POST","path":"/v1/chat completions"}`), "path", "request path"},
		{"BadClientIP", explain(`{"key_id":"` + id + `","method":"POST","path":"/v1/x","client_ip":"10.0.0.0/8"}`), "client_ip", "IPv4 or IPv6"},
		{"UnknownField", explain(`{"key_id":"` + id + `","method":"POST","path":"/v1/x","model":"gpt-4o"}`), "model", "unknown field"},
		{"BodyNotJSON", explain(`{"key_id":"` + id + `","method":"POST","path":"/v1/x","body":{model:1}}`), "", "not valid JSON"},
		{"MethodNotString", explain(`{"key_id":"` + id + `","method":1,"path":"/v1/x"}`), "method", "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.key = env.rootKey
			wantError(t, errorOf(t, env.do(t, tt.req), http.StatusBadRequest), "invalid_request", tt.field, tt.msg)
		})
	}
	if n := len(env.explainer.received()); n != 0 {
		t.Errorf("the Explainer was asked %d times about refused requests, want 0", n)
	}

	t.Run("TooLarge", func(t *testing.T) {
		big := `{"key_id":"` + id + `","method":"POST","path":"/v1/x","body":"` + strings.Repeat("a", 1<<20) + `"}`
		got := errorOf(t, env.do(t, request{method: "POST", path: "/admin/v1/explain", key: env.rootKey, body: big}), http.StatusRequestEntityTooLarge)
		wantError(t, got, "invalid_request", "", "larger than")
	})
}

func TestAuditBadRequest(t *testing.T) {
	env := newAuditEnv(t, newFakeAudit(3))
	tests := []struct {
		name, path, field, msg string
	}{
		{"UnknownParam", "/admin/v1/audit/events?team=red", "team", "unknown query parameter"},
		{"RepeatedParam", "/admin/v1/audit/events?event=authz&event=usage", "event", "more than once"},
		{"Key", "/admin/v1/audit/events?key=a%20b", "key", "not a key id"},
		{"Principal", "/admin/v1/audit/events?principal=a%2Fb", "principal", "not a valid principal id"},
		{"Event", "/admin/v1/audit/events?event=Key.Create", "event", "not an event type"},
		{"Decision", "/admin/v1/audit/events?decision=maybe", "decision", `"allow" or "deny"`},
		{"Since", "/admin/v1/audit/events?since=yesterday", "since", "RFC 3339"},
		{"UntilDateOnly", "/admin/v1/audit/events?until=2030-01-02", "until", "RFC 3339"},
		{"UntilBeforeSince", "/admin/v1/audit/events?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", "until", "later than since"},
		{"AfterNegative", "/admin/v1/audit/events?after=-1", "after", "record position"},
		{"AfterText", "/admin/v1/audit/events?after=abc", "after", "record position"},
		{"LimitZero", "/admin/v1/audit/events?limit=0", "limit", "from 1 to 500"},
		{"LimitLarge", "/admin/v1/audit/events?limit=501", "limit", "from 1 to 500"},
		{"Idx", "/admin/v1/audit/events/x1", "idx", "record position"},
		{"IdxNegative", "/admin/v1/audit/events/-1", "idx", "record position"},
		{"OldMissing", "/admin/v1/audit/consistency?new=3", "old", "required"},
		{"NewMissing", "/admin/v1/audit/consistency?old=1", "new", "required"},
		{"OldText", "/admin/v1/audit/consistency?old=one&new=3", "old", "tree size"},
		{"NewNegative", "/admin/v1/audit/consistency?old=0&new=-3", "new", "tree size"},
		{"OldAboveNew", "/admin/v1/audit/consistency?old=3&new=2", "old", "larger than new"},
		{"CheckpointParam", "/admin/v1/audit/checkpoint?size=3", "size", "unknown query parameter"},
		{"StreamParam", "/admin/v1/audit/stream?after=3", "after", "unknown query parameter"},
		{"PseudonymMissing", "/admin/v1/audit/pseudonym", "principal", "required"},
		{"PseudonymInvalid", "/admin/v1/audit/pseudonym?principal=a%20b", "principal", "not a valid principal id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: tt.path, key: env.rootKey}), http.StatusBadRequest)
			wantError(t, got, "invalid_request", tt.field, tt.msg)
		})
	}
}

// fakeUsage answers every report with err.
type fakeUsage struct{ err error }

func (f fakeUsage) Query(context.Context, usage.Query) ([]usage.Row, error) { return nil, f.err }

func TestUsageBadRequest(t *testing.T) {
	env := newTestEnvWith(t, envConfig{usage: true})
	tests := []struct {
		name, query, field, msg string
	}{
		{"FromNotRFC3339", "from=2030-01-01", "from", "RFC 3339"},
		{"ToNotRFC3339", "to=tomorrow", "to", "RFC 3339"},
		{"ToBeforeFrom", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "to", "after from"},
		{"SameHour", "from=2030-01-02T00:10:00Z&to=2030-01-01T23:50:00Z", "to", "after from"},
		{"RangeTooLong", "from=2028-01-01T00:00:00Z&to=2030-01-01T00:00:00Z", "to", "longer than 400 days"},
		{"DefaultFromAfterTo", "to=2029-12-01T00:00:00Z", "to", "after from"},
		{"UnknownDimension", "group_by=key,week", "group_by", `unknown dimension "week"; use key, principal, team, feature, model, day, hour`},
		{"DimensionTwice", "group_by=model,model", "group_by", "given twice"},
		{"TrailingComma", "group_by=key,", "group_by", `unknown dimension ""`},
		{"LongFilter", "model=" + strings.Repeat("m", 257), "model", "longer than 256"},
		{"UnknownParam", "since=2030-01-01T00:00:00Z", "since", "unknown query parameter"},
		{"ParamTwice", "key=a&key=b", "key", "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/usage?" + tt.query, key: env.rootKey}), http.StatusBadRequest)
			wantError(t, got, "invalid_request", tt.field, tt.msg)
		})
	}
	t.Run("TooManyRows", func(t *testing.T) {
		env := newTestEnvWith(t, envConfig{usageReader: fakeUsage{usage.ErrTooManyRows}})
		got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/usage?group_by=key,hour", key: env.rootKey}), http.StatusBadRequest)
		wantError(t, got, "invalid_request", "", "more than 10000 rows; narrow the time range")
	})
}

func TestHygieneBadRequest(t *testing.T) {
	env := newTestEnvWith(t, envConfig{usage: true})
	tests := []struct {
		name, query, field, msg string
	}{
		{"UnusedNegative", "unused_days=-1", "unused_days", "must be a whole number from 0 to 365"},
		{"UnusedTooMany", "unused_days=366", "unused_days", "must be a whole number from 0 to 365"},
		{"UnusedNotNumber", "unused_days=30d", "unused_days", "must be a whole number from 0 to 365"},
		{"UnexercisedTooMany", "unexercised_days=400", "unexercised_days", "must be a whole number from 0 to 365"},
		{"UnexercisedEmpty", "unexercised_days=", "unexercised_days", "must be a whole number from 0 to 365"},
		{"SprawlNotNumber", "sprawl_keys=ten", "sprawl_keys", "must be a whole number from 0 to 1000000"},
		{"UnknownParam", "team=red", "team", "unknown query parameter; this route takes unused_days, unexercised_days, sprawl_keys"},
		{"ParamTwice", "unused_days=1&unused_days=2", "unused_days", "more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorOf(t, env.do(t, request{method: "GET", path: "/admin/v1/hygiene?" + tt.query, key: env.rootKey}), http.StatusBadRequest)
			wantError(t, got, "invalid_request", tt.field, tt.msg)
		})
	}
}
