package admin

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the OpenAPI 3 description of the admin API. It is written
// by hand, so it reads like documentation; openapi_test.go checks that its
// operations are exactly the routes of routes.go and that its schemas have
// exactly the fields of the wire types.
//
//go:embed openapi.json
var openapiJSON []byte

// handleOpenAPI serves GET /admin/v1/openapi.json.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeBody(w, http.StatusOK, openapiJSON)
	})
}
