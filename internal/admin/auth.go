package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// authenticate returns middleware that lets a request through only with
// exactly one valid admin key in "Authorization: Bearer sga_…", and puts
// the caller's apikey.Actor in the request context for the handlers.
//
// What the client presented never reaches an answer or a log line: the
// messages are fixed texts and apikey errors, which do not quote keys; only
// the key id, which is not secret, is logged.
func authenticate(logger *slog.Logger, verifier *apikey.Verifier) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			actor, err := authenticateRequest(r, verifier)
			if err != nil {
				writeError(w, r, logger, err)
				return
			}
			info := infoFrom(r.Context())
			info.keyID, info.principal = actor.KeyID, actor.Principal
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
		})
	}
}

type actorKey struct{}

// errNoActor means a handler that needs a caller was registered without
// authenticate: a bug, answered with a 500 rather than served to nobody
// in particular.
var errNoActor = errors.New("route registered without authentication")

// actorFrom returns the caller that authenticate put in ctx.
func actorFrom(ctx context.Context) (apikey.Actor, error) {
	a, ok := ctx.Value(actorKey{}).(apikey.Actor)
	if !ok {
		return apikey.Actor{}, errNoActor
	}
	return a, nil
}

func authenticateRequest(r *http.Request, verifier *apikey.Verifier) (apikey.Actor, error) {
	token, err := bearerToken(r.Header)
	if err != nil {
		return apikey.Actor{}, err
	}
	// The class is visible in the prefix, so refusing a data key before
	// any lookup tells the client nothing it did not know, and spares the
	// store. Parse touches no store either.
	cred, err := apikey.Parse(token)
	if err == nil && cred.Class != apikey.ClassAdmin {
		return apikey.Actor{}, &authError{message: msgDataKey, reason: apikey.Reason(apikey.ErrWrongClass), keyID: cred.ID}
	}
	v, err := verifier.Verify(r.Context(), token, apikey.ClassAdmin, clientAddr(r))
	if err != nil {
		return apikey.Actor{}, verifyError(err)
	}
	return apikey.Actor{
		Principal: v.Principal.ID,
		Team:      v.Principal.Team,
		KeyID:     v.Key.ID,
		// A key's roles are narrowed by its principal's ceiling, exactly
		// as data scopes are: lowering the ceiling demotes every key.
		Roles: apikey.EffectiveRoles(v.Key.Scopes, v.Principal.Ceiling),
	}, nil
}

const msgDataKey = "data-plane keys (sgk_) are refused by the admin API; use an admin key (sga_)"

// bearerToken returns the one credential of a request. Anything but a
// single "Authorization: Bearer <token>" header is refused, including a
// second credential in x-api-key (which the data plane accepts): with two
// credentials it is unclear which one the client meant to use.
func bearerToken(h http.Header) (string, error) {
	const hint = "; send Authorization: Bearer with an admin key (sga_…)"
	vals := h.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", &authError{message: "missing credential" + hint, reason: "missing_credential"}
	case len(vals) > 1:
		return "", &authError{message: "more than one Authorization header" + hint, reason: "malformed_credential"}
	case len(h.Values("X-Api-Key")) > 0:
		return "", &authError{message: "more than one credential: x-api-key is not accepted here" + hint, reason: "malformed_credential"}
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", &authError{message: "the Authorization scheme must be Bearer" + hint, reason: "malformed_credential"}
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t,") {
		return "", &authError{message: "malformed Bearer credential" + hint, reason: "malformed_credential"}
	}
	return token, nil
}

// verifyError maps a failed verification to an answer. Credential errors
// are 401 with the reason (a malformed, unknown, suspended, revoked or
// expired key: only a holder of the real key learns its state, because
// Verify checks the state after the hash). A failure to check at all is
// 503: fail closed, and let the client retry.
func verifyError(err error) error {
	var id apikey.ID
	if ve, ok := errors.AsType[*apikey.VerifyError](err); ok {
		id = ve.ID
	}
	if !apikey.IsCredentialError(err) {
		return &unavailableError{message: "cannot check the credential now; try again", err: err}
	}
	msg := err.Error()
	if errors.Is(err, apikey.ErrWrongClass) {
		msg = msgDataKey
	}
	return &authError{message: msg, reason: apikey.Reason(err), keyID: id}
}

// clientAddr is the address the key's CIDR allow-list is checked against.
// It is the TCP peer: the admin listener trusts no proxy, so
// X-Forwarded-For and Forwarded are ignored; a client could write anything
// there. An unparsable address (such as a Unix socket peer) is the zero
// Addr, which no allow-list contains, so keys with CIDRs fail closed.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}
