package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/scopegate/scopegate/internal/apikey"
)

// handlePrincipalCreate serves POST /admin/v1/principals. Only admins may
// create principals; the Issuer answers others with ErrForbidden (403).
func handlePrincipalCreate(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decode[PrincipalRequest](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		p, err := issuer.CreatePrincipal(r.Context(), actor, principalSpec(req))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		w.Header().Set("Location", "/admin/v1/principals/"+url.PathEscape(string(p.ID)))
		encode(w, r, logger, http.StatusCreated, toPrincipal(p))
	})
}

// handlePrincipalList serves GET /admin/v1/principals: the principals the
// caller reaches (all for admin, its team for keys:team, itself for
// keys:self), filtered by team and status, a page at a time.
func handlePrincipalList(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		q, err := parseListQuery(r, paramTeam, paramStatus, paramAfter, paramLimit)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		status, err := principalStatus(q.status)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		page, err := issuer.Principals(r.Context(), actor, apikey.PrincipalFilter{
			Team: q.team, Status: status, After: apikey.PrincipalID(q.after), Limit: q.limit})
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toList(page, toPrincipal))
	})
}

// handlePrincipalGet serves GET /admin/v1/principals/{id}.
func handlePrincipalGet(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return handlePrincipalOp(logger, issuer.Principal)
}

// handlePrincipalUpdate serves PATCH /admin/v1/principals/{id}: fields
// present in the body are changed, absent ones left alone.
func handlePrincipalUpdate(logger *slog.Logger, issuer *apikey.Issuer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		req, err := decode[PrincipalPatch](w, r)
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		p, err := issuer.UpdatePrincipal(r.Context(), actor, apikey.PrincipalID(r.PathValue("id")), principalPatch(req))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toPrincipal(p))
	})
}

// principalOp is an Issuer method that reads or changes one principal and
// takes nothing but its id, such as DisablePrincipal.
type principalOp func(ctx context.Context, a apikey.Actor, id apikey.PrincipalID) (apikey.Principal, error)

// handlePrincipalOp serves a route that applies op to the principal
// {id} and answers the principal as it is afterwards: GET one, and POST
// {id}/disable and {id}/enable. Any request body is ignored; these
// operations take no input.
func handlePrincipalOp(logger *slog.Logger, op principalOp) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := actorFrom(r.Context())
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		p, err := op(r.Context(), actor, apikey.PrincipalID(r.PathValue("id")))
		if err != nil {
			writeError(w, r, logger, err)
			return
		}
		encode(w, r, logger, http.StatusOK, toPrincipal(p))
	})
}
