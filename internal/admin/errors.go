package admin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/scopegate/scopegate/internal/anomaly"
	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/usage"
)

// The error types of ErrorDetail.Type. Clients branch on them, so they are
// part of the contract.
const (
	errTypeInvalid      = "invalid_request"
	errTypeUnauthorized = "unauthorized"
	errTypeForbidden    = "forbidden"
	errTypeNotFound     = "not_found"
	errTypeConflict     = "conflict"
	errTypeInternal     = "internal"
	errTypeNotImpl      = "not_implemented"
	errTypeUnavailable  = "unavailable"
)

// errNotImplemented answers a route whose backing service this process
// was built without, such as explain on a server with no Explainer: 501,
// which tells the client that retrying will not help.
var errNotImplemented = errors.New("not implemented by this server")

// requestError is a request this package refuses before the Issuer sees
// it: bad JSON, a bad query parameter or header, a body too large. Its
// status is 400 unless set.
type requestError struct {
	status  int
	field   string
	message string
}

func (e *requestError) Error() string {
	if e.field == "" {
		return e.message
	}
	return e.field + ": " + e.message
}

// badRequest returns a 400 requestError naming field (the JSON field, query
// parameter or header at fault; empty when it is the body as a whole).
func badRequest(field, format string, args ...any) error {
	return &requestError{field: field, message: fmt.Sprintf(format, args...)}
}

// authError is a refused credential: 401. reason is apikey.Reason of the
// failure, for the log; keyID is the presented key's id when it could be
// read. The message never quotes the credential.
type authError struct {
	message string
	reason  string
	keyID   apikey.ID
}

func (e *authError) Error() string { return e.message }

// unavailableError means a check could not be made, such as the key store
// not answering while verifying a credential. The request fails closed with
// 503; the cause goes to the log only.
type unavailableError struct {
	message string
	err     error
}

func (e *unavailableError) Error() string { return e.message + ": " + e.err.Error() }

func (e *unavailableError) Unwrap() error { return e.err }

// writeError answers err with the status and ErrorBody it maps to. It is
// the only place that decides statuses for errors. The message of an error
// about one field starts with the field's name, so it reads well on its own
// (as the CLI prints it) and "field" serves programs. Messages of 4xx errors
// come from this package and the Issuer, which never put secrets in them;
// 5xx errors answer a generic message and their details go to the log
// only.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status, detail := classify(err)
	info := infoFrom(r.Context())
	info.errType = detail.Type
	if ae, ok := errors.AsType[*authError](err); ok {
		info.reason = ae.reason
		if ae.keyID != "" {
			info.keyID = ae.keyID
		}
		// RFC 6750 section 3: a 401 names the scheme the client should use.
		w.Header().Set("WWW-Authenticate", `Bearer realm="scopegate-admin"`)
	}
	// 501 is how this server was built, not a failure: the access line
	// says enough.
	if status >= 500 && status != http.StatusNotImplemented {
		// Unavailable is a state of a dependency, reported wherever that
		// dependency is owned; anything else here is a bug or an outage.
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		logger.LogAttrs(r.Context(), level, "admin request failed",
			slog.String(logKeyMethod, r.Method), slog.String(logKeyRoute, r.Pattern),
			slog.String(logKeyKeyID, string(info.keyID)), slog.String(logKeyErr, err.Error()))
	}
	writeJSON(w, status, ErrorBody{Error: detail})
}

// classify maps err to a status and the error detail shown to the client.
func classify(err error) (int, ErrorDetail) {
	if e, ok := errors.AsType[*requestError](err); ok {
		status := e.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return status, ErrorDetail{Type: errTypeInvalid, Message: e.Error(), Field: e.field}
	}
	if e, ok := errors.AsType[*apikey.ValidationError](err); ok {
		return http.StatusBadRequest, ErrorDetail{Type: errTypeInvalid, Message: e.Error(), Field: e.Field}
	}
	if e, ok := errors.AsType[*usage.QueryError](err); ok {
		return http.StatusBadRequest, ErrorDetail{Type: errTypeInvalid, Message: e.Error(), Field: e.Field}
	}
	if errors.Is(err, usage.ErrTooManyRows) {
		// The caller can narrow the report; the message says how.
		return http.StatusBadRequest, ErrorDetail{Type: errTypeInvalid, Message: usage.ErrTooManyRows.Error()}
	}
	if e, ok := errors.AsType[*authError](err); ok {
		return http.StatusUnauthorized, ErrorDetail{Type: errTypeUnauthorized, Message: e.message}
	}
	if e, ok := errors.AsType[*unavailableError](err); ok {
		return http.StatusServiceUnavailable, ErrorDetail{Type: errTypeUnavailable, Message: e.message}
	}
	switch {
	case errors.Is(err, errNoRoute):
		return http.StatusNotFound, ErrorDetail{Type: errTypeNotFound, Message: err.Error()}
	case errors.Is(err, errNotImplemented):
		return http.StatusNotImplemented, ErrorDetail{Type: errTypeNotImpl, Message: err.Error()}
	case errors.Is(err, apikey.ErrUnrecorded):
		return http.StatusServiceUnavailable, ErrorDetail{Type: errTypeUnavailable, Message: apikey.ErrUnrecorded.Error()}
	case errors.Is(err, apikey.ErrNotFound):
		// The same answer for "does not exist" and "outside your reach",
		// so that ids of other tenants do not leak.
		return http.StatusNotFound, ErrorDetail{Type: errTypeNotFound, Message: "not found"}
	case errors.Is(err, anomaly.ErrNotFound):
		// As for keys: an alert outside the caller's reach is not found.
		return http.StatusNotFound, ErrorDetail{Type: errTypeNotFound, Message: "not found"}
	case errors.Is(err, ErrNotFound):
		// The audit log is for admins only, so its messages (positions and
		// sizes) can say what is missing; the sentinel's ": not found" is
		// what the type already says.
		msg := strings.TrimSuffix(err.Error(), ": "+ErrNotFound.Error())
		return http.StatusNotFound, ErrorDetail{Type: errTypeNotFound, Message: msg}
	case errors.Is(err, apikey.ErrForbidden):
		return http.StatusForbidden, ErrorDetail{Type: errTypeForbidden, Message: apikey.ErrForbidden.Error()}
	case errors.Is(err, apikey.ErrConflict):
		// The Issuer's messages end in the sentinel's ": conflict", which
		// the type already says.
		msg := strings.TrimSuffix(err.Error(), ": "+apikey.ErrConflict.Error())
		return http.StatusConflict, ErrorDetail{Type: errTypeConflict, Message: msg}
	}
	return http.StatusInternalServerError, ErrorDetail{Type: errTypeInternal,
		Message: "internal error; the server log has the details"}
}
