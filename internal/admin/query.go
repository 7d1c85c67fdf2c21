package admin

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/scopegate/scopegate/internal/apikey"
)

// The query parameters of the list routes.
const (
	paramPrincipal = "principal"
	paramTeam      = "team"
	paramStatus    = "status"
	paramAfter     = "after"
	paramLimit     = "limit"
)

// listQuery is the parsed query of a list request. Zero fields select
// everything.
type listQuery struct {
	principal string
	team      string
	status    string
	after     string
	limit     int
}

// parseListQuery reads the list parameters of r, accepting only those in
// allowed. Unknown and repeated parameters are refused rather than ignored:
// a misspelled filter that is ignored would list more than the caller
// meant to see.
func parseListQuery(r *http.Request, allowed ...string) (listQuery, error) {
	values, err := strictQuery(r, allowed...)
	if err != nil {
		return listQuery{}, err
	}
	q := listQuery{
		principal: values.Get(paramPrincipal),
		team:      values.Get(paramTeam),
		status:    values.Get(paramStatus),
		after:     values.Get(paramAfter),
	}
	if q.principal != "" && !apikey.ValidPrincipalID(apikey.PrincipalID(q.principal)) {
		return listQuery{}, badRequest(paramPrincipal, "is not a valid principal id")
	}
	if len(q.team) > 128 {
		return listQuery{}, badRequest(paramTeam, "longer than 128 characters")
	}
	if len(q.after) > 256 {
		return listQuery{}, badRequest(paramAfter, "longer than 256 characters; pass the \"next\" of the previous page")
	}
	if s := values.Get(paramLimit); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > apikey.MaxPageSize {
			return listQuery{}, badRequest(paramLimit, "must be a whole number from 1 to %d", apikey.MaxPageSize)
		}
		q.limit = n
	}
	return q, nil
}

// strictQuery returns the query parameters of r, refusing a malformed
// query, a parameter not in allowed and a parameter given twice.
func strictQuery(r *http.Request, allowed ...string) (url.Values, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", "query string is malformed: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !slices.Contains(allowed, name) {
			return nil, badRequest(name, "unknown query parameter; this route takes %s", strings.Join(allowed, ", "))
		}
		if len(values[name]) > 1 {
			return nil, badRequest(name, "query parameter given more than once")
		}
	}
	return values, nil
}

func principalStatus(s string) (apikey.PrincipalStatus, error) {
	switch st := apikey.PrincipalStatus(s); st {
	case "", apikey.PrincipalActive, apikey.PrincipalDisabled:
		return st, nil
	}
	return "", badRequest(paramStatus, "must be %q or %q", apikey.PrincipalActive, apikey.PrincipalDisabled)
}

func keyStatus(s string) (apikey.Status, error) {
	switch st := apikey.Status(s); st {
	case "", apikey.StatusActive, apikey.StatusSuspended, apikey.StatusRevoked:
		return st, nil
	}
	return "", badRequest(paramStatus, "must be %q, %q or %q", apikey.StatusActive, apikey.StatusSuspended, apikey.StatusRevoked)
}

// toList returns a page as the API shows it. Items is [] rather than null
// when the page is empty, so clients can always iterate it.
func toList[T, W any](p apikey.Page[T], conv func(T) W) List[W] {
	items := make([]W, 0, len(p.Items))
	for _, it := range p.Items {
		items = append(items, conv(it))
	}
	return List[W]{Items: items, Next: p.Next}
}
