package admin

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/scopegate/scopegate/internal/apikey"
)

// headerIdempotencyKey makes a rotation safe to retry.
const headerIdempotencyKey = "Idempotency-Key"

// handleKeyCreate serves POST /admin/v1/keys. It answers 201 with the key
// record and, in "key", the key itself: the only time it is ever shown.
func handleKeyCreate(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decode[KeyRequest](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		spec, err := keySpec(req)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		k, secret, err := issuer.CreateKey(r.Context(), actor, spec)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", "/admin/v1/keys/"+string(k.ID))
		encode(w, r, logger, http.StatusCreated, toCreatedKey(k, secret))
	})
}

// handleKeyList serves GET /admin/v1/keys: the keys of the principals the
// caller reaches, filtered by principal, team and status, a page at a time.
func handleKeyList(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		q, err := parseListQuery(r, paramPrincipal, paramTeam, paramStatus, paramAfter, paramLimit)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		status, err := keyStatus(q.status)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		page, err := issuer.Keys(r.Context(), actor, apikey.KeyFilter{
			Principal: apikey.PrincipalID(q.principal), Team: q.team, Status: status,
			After: apikey.ID(q.after), Limit: q.limit})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toList(page, toKey))
	})
}

// handleKeyGet serves GET /admin/v1/keys/{id}.
func handleKeyGet(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return handleKeyOp(logger, issuer.Key)
}

// handleKeyUpdate serves PATCH /admin/v1/keys/{id}: fields present in the
// body are changed, absent ones left alone.
func handleKeyUpdate(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decode[KeyPatch](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		k, err := issuer.UpdateKey(r.Context(), actor, apikey.ID(r.PathValue("id")), keyPatch(req))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toKey(k))
	})
}

// keyOp is an Issuer method that reads or changes one key and takes
// nothing but its id, such as SuspendKey.
type keyOp func(ctx context.Context, a apikey.Actor, id apikey.ID) (apikey.Key, error)

// handleKeyOp serves a route that applies op to the key {id} and
// answers the key record as it is afterwards: GET one, and POST
// {id}/suspend, {id}/resume and {id}/revoke. Any request body is ignored;
// these operations take no input.
func handleKeyOp(logger *slog.Logger, op keyOp) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		k, err := op(r.Context(), actor, apikey.ID(r.PathValue("id")))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toKey(k))
	})
}

// handleKeyRotate serves POST /admin/v1/keys/{id}/rotate. The body,
// {"grace":"24h"}, may be left out for the default grace. It answers 201
// with the new key record and the new key. With an Idempotency-Key header,
// a retry answers 201 with the same record and key as the first attempt
// and creates nothing: a client that lost the first answer cannot tell the
// difference, which is the point.
func handleKeyRotate(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		idem, err := idempotencyKey(r.Header)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decodeOptional[RotateRequest](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		spec, err := rotateSpec(req, idem)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		k, secret, err := issuer.RotateKey(r.Context(), actor, apikey.ID(r.PathValue("id")), spec)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", "/admin/v1/keys/"+string(k.ID))
		encode(w, r, logger, http.StatusCreated, toCreatedKey(k, secret))
	})
}

// idempotencyKey returns the request's Idempotency-Key, or "" if it has
// none. It must be one header of printable ASCII without spaces; the Issuer
// checks its length.
func idempotencyKey(h http.Header) (string, error) {
	vals := h.Values(headerIdempotencyKey)
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", badRequest(headerIdempotencyKey, "header given more than once")
	}
	v := vals[0]
	if v == "" {
		return "", badRequest(headerIdempotencyKey, "header is empty")
	}
	for i := range len(v) {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return "", badRequest(headerIdempotencyKey, "must be printable ASCII without spaces, such as a UUID")
		}
	}
	return v, nil
}
