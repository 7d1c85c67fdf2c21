package admin

import (
	"encoding/json"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
)

// The JSON shapes of the admin API. They are the contract with the CLI,
// scripts and the console: fields are added, never renamed or removed.

// PrincipalRequest is the body of POST /admin/v1/principals.
type PrincipalRequest struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind,omitempty"`
	Audience string         `json:"audience,omitempty"`
	Team     string         `json:"team,omitempty"`
	Scopes   []string       `json:"scopes"`
	Limits   *apikey.Limits `json:"limits,omitempty"`
}

// PrincipalPatch is the body of PATCH /admin/v1/principals/{id}; absent
// fields are left alone.
type PrincipalPatch struct {
	Kind     *string        `json:"kind,omitempty"`
	Audience *string        `json:"audience,omitempty"`
	Team     *string        `json:"team,omitempty"`
	Scopes   *[]string      `json:"scopes,omitempty"`
	Limits   *apikey.Limits `json:"limits,omitempty"`
}

// Principal is a principal as the API shows it.
type Principal struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Audience  string        `json:"audience"`
	Team      string        `json:"team"`
	Scopes    []string      `json:"scopes"`
	Status    string        `json:"status"`
	Limits    apikey.Limits `json:"limits"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
	CreatedBy string        `json:"created_by,omitempty"`
	UpdatedBy string        `json:"updated_by,omitempty"`
}

// KeyRequest is the body of POST /admin/v1/keys. TTL is a Go duration
// ("720h", "20m"), optionally starting with whole days ("90d", "1d12h");
// it and ExpiresAt are alternatives.
type KeyRequest struct {
	Principal string         `json:"principal"`
	Name      string         `json:"name,omitempty"`
	Kind      string         `json:"kind,omitempty"` // "data" (default) or "admin"
	Scopes    []string       `json:"scopes"`
	Env       string         `json:"env,omitempty"`
	TTL       string         `json:"ttl,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	NotBefore *time.Time     `json:"not_before,omitempty"`
	CIDRs     []string       `json:"cidrs,omitempty"`
	Limits    *apikey.Limits `json:"limits,omitempty"`
}

// KeyPatch is the body of PATCH /admin/v1/keys/{id}; absent fields are
// left alone.
type KeyPatch struct {
	Name      *string        `json:"name,omitempty"`
	Scopes    *[]string      `json:"scopes,omitempty"`
	ExpiresAt *time.Time     `json:"expires_at,omitempty"`
	CIDRs     *[]string      `json:"cidrs,omitempty"`
	Limits    *apikey.Limits `json:"limits,omitempty"`
}

// RotateRequest is the body of POST /admin/v1/keys/{id}/rotate. Grace is a
// duration as TTL ("24h", "1d"); absent means the configured default, "0s"
// means the old key stops at once.
type RotateRequest struct {
	Grace *string `json:"grace,omitempty"`
}

// Key is a key record as the API shows it. Key, the key itself, is set only
// in the answer to a create or a rotate, and is never shown again.
type Key struct {
	ID          string        `json:"id"`
	Kind        string        `json:"kind"` // "data" or "admin"
	Name        string        `json:"name"`
	Principal   string        `json:"principal"`
	Scopes      []string      `json:"scopes"`
	Env         string        `json:"env"`
	Status      string        `json:"status"`
	NotBefore   *time.Time    `json:"not_before,omitempty"`
	ExpiresAt   time.Time     `json:"expires_at"`
	CIDRs       []string      `json:"cidrs"`
	Limits      apikey.Limits `json:"limits"`
	Last4       string        `json:"last4"`
	RotatedFrom string        `json:"rotated_from,omitempty"`
	ReplacedBy  string        `json:"replaced_by,omitempty"`
	LastUsedAt  *time.Time    `json:"last_used_at,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	RevokedAt   *time.Time    `json:"revoked_at,omitempty"`
	CreatedBy   string        `json:"created_by,omitempty"`
	UpdatedBy   string        `json:"updated_by,omitempty"`
	RevokedBy   string        `json:"revoked_by,omitempty"`
	Key         string        `json:"key,omitempty"`
}

// List is the shape of every list answer. Next is the cursor to pass as
// ?after= for the following page; empty on the last page.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// ExplainRequest is the body of POST /admin/v1/explain: a key, and a
// request as a client would send it to the data plane. The answer is the
// decision the gateway would make; nothing is forwarded.
//
// KeyID and Key are alternatives; exactly one is given. Key is the whole
// key text, as pasted from a client's configuration: only its id is read
// from it (its secret is not checked), and it is never logged or echoed.
type ExplainRequest struct {
	KeyID string `json:"key_id,omitempty"`
	Key   string `json:"key,omitempty"`
	// Method and Path are the request line, such as "POST" and
	// "/v1/chat/completions".
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is the request body as a JSON value, usually the request
	// object; absent for a request without a body, such as GET /v1/models.
	Body json.RawMessage `json:"body,omitempty"`
	// ClientIP is the client's address, for keys limited to networks;
	// absent means the check is not made.
	ClientIP string `json:"client_ip,omitempty"`
}

// ExplainResult is the answer of POST /admin/v1/explain: the decision, the
// stage of the request path that made it, and what it was based on.
type ExplainResult struct {
	// Decision is "allow" or "deny".
	Decision string `json:"decision"`
	// Stage is where the decision was made: "authenticate", "route",
	// "parse" or "authorize". An allowed request passed them all.
	Stage string `json:"stage"`
	// Status is the HTTP status the gateway would answer the client with
	// (200 when it would forward).
	Status int `json:"status"`
	// Reason is machine-readable, such as "missing_scope" or "key_revoked".
	Reason string `json:"reason"`
	// Message says the same for people.
	Message string `json:"message"`
	// Feature is the feature that served, or would serve, the request.
	Feature string `json:"feature,omitempty"`
	// Scope is the key's scope that granted the request.
	Scope string `json:"scope,omitempty"`
	// RequiredScope is the scope a denied request would have needed.
	RequiredScope string `json:"required_scope,omitempty"`
	// Resource is the canonical model or dataset the request names, after
	// aliases.
	Resource string `json:"resource,omitempty"`
	// Upstream and UpstreamPath are where the request would be forwarded.
	Upstream     string `json:"upstream,omitempty"`
	UpstreamPath string `json:"upstream_path,omitempty"`
}

// Health is the answer of /healthz and of a ready /readyz.
type Health struct {
	// Status is "ok" for /healthz and "ready" for /readyz.
	Status string `json:"status"`
}

// ErrorBody is the shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes an error: its type ("invalid_request",
// "unauthorized", "forbidden", "not_found", "conflict", "internal",
// "not_implemented", "unavailable"), a message for people, and on
// validation errors the field.
type ErrorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}
