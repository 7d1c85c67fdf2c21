package proxy

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/provider"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// gateError is a refusal at some stage of the request path: the status the
// client gets, the machine-readable reason the audit log records, and the
// message. Every refusal is one of these before it is written, so statuses
// are decided in one place (errorFor) and written in one place
// (writeError).
type gateError struct {
	status int
	// reason goes to the audit log and the error body's code.
	reason string
	msg    string
	// param names the offending request field, for 400s.
	param string
	// requiredScope is the scope that would have granted the request.
	requiredScope string
	// retryAfter is set on 429s and some 503s.
	retryAfter time.Duration
	// refusedBy is the limit that refused a 429, described in the
	// RateLimit headers as at refusedAt (the gateway's clock).
	refusedBy *ratelimit.ExceededError
	refusedAt time.Time
	// wwwAuthenticate is the RFC 6750 challenge on 401s and some 400s.
	wwwAuthenticate string
	// allow lists the path's methods on a 405.
	allow string
	// err is the cause, for the log only.
	err error
}

func (e *gateError) Error() string { return e.msg }

func refuse(status int, reason, msg string) *gateError {
	return &gateError{status: status, reason: reason, msg: msg}
}

// authError maps a verification failure to its refusal. Malformed, unknown
// and wrong-secret keys read the same; a store failure fails closed.
func authError(err error) *gateError {
	if !apikey.IsCredentialError(err) {
		return &gateError{status: http.StatusServiceUnavailable, reason: "key_store_unavailable",
			msg: "the gateway cannot check keys right now; try again shortly", err: err}
	}
	reason := apikey.Reason(err)
	msg := err.Error()
	switch reason {
	case "malformed_key", "invalid_key":
		msg = "invalid API key"
	case "wrong_key_class":
		msg = "admin keys (sga_) are not accepted on the data plane; use a data key (sgk_)"
	}
	var ve *apikey.VerifyError
	if errors.As(err, &ve) && reason != "malformed_key" && reason != "invalid_key" {
		msg = "API key " + string(ve.ID) + ": " + msg
	}
	return &gateError{status: http.StatusUnauthorized, reason: reason, msg: msg,
		wwwAuthenticate: `Bearer realm="scopegate", error="invalid_token"`}
}

// writeError writes e in the shape of the API the client speaks, with the
// headers its status calls for.
func writeError(w http.ResponseWriter, api provider.API, e *gateError) {
	h := w.Header()
	if e.wwwAuthenticate != "" {
		h.Set("WWW-Authenticate", e.wwwAuthenticate)
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	if e.refusedBy != nil {
		setRefusalHeaders(h, api, e.refusedBy, e.refusedAt)
	}
	provider.WriteError(w, api, provider.ErrorBody{Status: e.status, Code: e.reason, Message: e.msg,
		Param: e.param, RequiredScope: e.requiredScope})
}
