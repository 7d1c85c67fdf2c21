package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// Explainer works out the decision the data plane would make for a
// request, without forwarding it. The proxy implements it, so that the
// explanation is made by the same code as the real decision.
//
// Explain receives the key record and its principal, already read through
// the Issuer for the caller (so within the caller's reach), and req with
// KeyID set to k.ID and Key empty: the key text goes no further than the
// handler. It must not forward anything, write an audit event or take
// from any limit; an explanation changes nothing. A deny is a result, not
// an error: an error means no explanation could be made, and is answered
// as the admin API answers errors (500 unless it wraps an apikey
// sentinel). It must be safe for concurrent use.
type Explainer interface {
	Explain(ctx context.Context, k apikey.Key, p apikey.Principal, req ExplainRequest) (ExplainResult, error)
}

// handleExplain serves POST /admin/v1/explain: it answers 200 with the
// decision the gateway would make for the request in the body, whether
// that is allow or deny.
//
// Explaining is a read, so it writes no audit record: it changes nothing,
// and what it reveals (a key's scopes and the configuration) the caller
// can already read.
func handleExplain(logger *slog.Logger, issuer *apikey.Issuer, explainer Explainer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if explainer == nil {
			writeError(w, r, logger, errNotImplemented)
			return
		}
		req, err := decode[ExplainRequest](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		if req, err = checkExplainRequest(req); err != nil {
			writeError(w, r, logger, err)
			return
		}
		k, p, err := explainSubject(r.Context(), issuer, actor, apikey.ID(req.KeyID))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		res, err := explainer.Explain(r.Context(), k, p, req)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, res)
	})
}

// explainSubject reads the key id and its principal for a, so a key
// outside a's reach is ErrNotFound (404), as on every other route.
func explainSubject(ctx context.Context, issuer *apikey.Issuer, a apikey.Actor, id apikey.ID) (apikey.Key, apikey.Principal, error) {
	k, err := issuer.Key(ctx, a, id)
	if err != nil {
		return apikey.Key{}, apikey.Principal{}, err
	}
	p, err := issuer.Principal(ctx, a, k.Principal)
	if err != nil {
		return apikey.Key{}, apikey.Principal{}, err
	}
	return k, p, nil
}

// checkExplainRequest refuses an incomplete request and returns it with
// the key given by id only: KeyID set and Key empty.
func checkExplainRequest(req ExplainRequest) (ExplainRequest, error) {
	id, err := explainKeyID(req.KeyID, req.Key)
	if err != nil {
		return ExplainRequest{}, err
	}
	req.KeyID, req.Key = string(id), ""
	switch {
	case req.Method == "":
		return ExplainRequest{}, badRequest("method", "required, such as POST")
	case !isMethod(req.Method):
		return ExplainRequest{}, badRequest("method", "must be an HTTP method such as POST")
	case req.Path == "":
		return ExplainRequest{}, badRequest("path", "required, such as /v1/chat/completions")
	case !strings.HasPrefix(req.Path, "/") || strings.ContainsFunc(req.Path, isSpaceOrControl):
		return ExplainRequest{}, badRequest("path", "must be a request path such as /v1/chat/completions")
	}
	if req.ClientIP != "" {
		if _, err := netip.ParseAddr(req.ClientIP); err != nil {
			return ExplainRequest{}, badRequest("client_ip", "must be an IPv4 or IPv6 address")
		}
	}
	// JSON null is how some clients write "no body".
	if bytes.Equal(req.Body, []byte("null")) {
		req.Body = nil
	}
	return req, nil
}

// explainKeyID returns the id of the key to explain, given as its id or as
// the whole key. Messages never quote what was given: it may be a secret.
func explainKeyID(keyID, key string) (apikey.ID, error) {
	switch {
	case keyID != "" && key != "":
		return "", badRequest("key_id", "give key_id or key, not both")
	case keyID == "" && key == "":
		return "", badRequest("key_id", "required: the id of the key to explain (or the whole key in key)")
	case key != "":
		cred, err := apikey.Parse(key)
		if err != nil {
			// FormatError messages describe the shape, never the text.
			return "", badRequest("key", "%v", err)
		}
		return cred.ID, nil
	}
	// A whole key pasted as key_id would otherwise be looked up as an id,
	// and answered with a puzzling 404.
	if _, err := apikey.Parse(keyID); err == nil {
		return "", badRequest("key_id", "this is a whole key; send it as key, or send only its id")
	}
	return apikey.ID(keyID), nil
}

// isMethod reports whether m looks like an HTTP method: letters only, as
// every method the gateway routes is. Case is kept: the gateway matches it
// exactly, so "post" is explained as what it is.
func isMethod(m string) bool {
	if len(m) > 16 {
		return false
	}
	for i := range len(m) {
		if c := m[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }
