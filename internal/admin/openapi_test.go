package admin

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scopegate/scopegate/internal/apikey"
)

// openapiDoc is the part of an OpenAPI 3 document these tests read.
type openapiDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func parseOpenAPI(t *testing.T) openapiDoc {
	t.Helper()
	var doc openapiDoc
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIRoutes checks that openapi.json documents exactly the routes
// the handler serves.
func TestOpenAPIRoutes(t *testing.T) {
	doc := parseOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	var served []string
	for _, rt := range routes(Config{Logger: slog.New(slog.DiscardHandler)}) {
		served = append(served, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if d := cmp.Diff(served, documented); d != "" {
		t.Errorf("openapi.json operations differ from routes.go (-served +documented):\n%s", d)
	}
}

// TestOpenAPISchemas checks that each schema of openapi.json has exactly
// the JSON fields of the wire type it describes.
func TestOpenAPISchemas(t *testing.T) {
	doc := parseOpenAPI(t)
	types := map[string]reflect.Type{
		"PrincipalRequest": reflect.TypeFor[PrincipalRequest](),
		"PrincipalPatch":   reflect.TypeFor[PrincipalPatch](),
		"Principal":        reflect.TypeFor[Principal](),
		"KeyRequest":       reflect.TypeFor[KeyRequest](),
		"KeyPatch":         reflect.TypeFor[KeyPatch](),
		"RotateRequest":    reflect.TypeFor[RotateRequest](),
		"Key":              reflect.TypeFor[Key](),
		"Limits":           reflect.TypeFor[apikey.Limits](),
		"PrincipalList":    reflect.TypeFor[List[Principal]](),
		"KeyList":          reflect.TypeFor[List[Key]](),
		"ErrorBody":        reflect.TypeFor[ErrorBody](),
		"ErrorDetail":      reflect.TypeFor[ErrorDetail](),
		"Health":           reflect.TypeFor[Health](),
		"ExplainRequest":   reflect.TypeFor[ExplainRequest](),
		"ExplainResult":    reflect.TypeFor[ExplainResult](),
		"AuditEventList":   reflect.TypeFor[List[json.RawMessage]](),
		"AuditEvent":       reflect.TypeFor[AuditEvent](),
		"PseudonymResult":  reflect.TypeFor[PseudonymResult](),
		"UsageReport":      reflect.TypeFor[UsageReport](),
		"UsageRow":         reflect.TypeFor[UsageRow](),
		"UsageTotals":      reflect.TypeFor[UsageTotals](),
		"Alert":            reflect.TypeFor[Alert](),
		"AlertList":        reflect.TypeFor[List[Alert]](),
		// Key hygiene.
		"HygieneReport":         reflect.TypeFor[HygieneReport](),
		"HygienePolicy":         reflect.TypeFor[HygienePolicy](),
		"HygieneUnusedKey":      reflect.TypeFor[HygieneUnusedKey](),
		"HygieneUnexercisedKey": reflect.TypeFor[HygieneUnexercisedKey](),
		"HygieneLongLivedKey":   reflect.TypeFor[HygieneLongLivedKey](),
		"HygieneSprawl":         reflect.TypeFor[HygieneSprawl](),
	}
	for name, typ := range types {
		t.Run(name, func(t *testing.T) {
			schema, ok := doc.Components.Schemas[name]
			if !ok {
				t.Fatalf("openapi.json has no schema %s", name)
			}
			var documented []string
			for p := range schema.Properties {
				documented = append(documented, p)
			}
			slices.Sort(documented)
			if d := cmp.Diff(jsonFields(typ), documented); d != "" {
				t.Errorf("schema %s differs from %v (-Go +documented):\n%s", name, typ, d)
			}
		})
	}
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestOpenAPIRefs checks that every $ref in openapi.json points at
// something the document defines.
func TestOpenAPIRefs(t *testing.T) {
	var root any
	if err := json.Unmarshal(openapiJSON, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if ref, ok := child.(string); ok && k == "$ref" && resolve(root, ref) == nil {
					t.Errorf("$ref %q does not resolve", ref)
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(root)
}

func resolve(root any, ref string) any {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	v := root
	for part := range strings.SplitSeq(path, "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// TestEveryRouteAuthenticated checks that every /admin/v1/ route but the
// OpenAPI document refuses a request without a credential, and that the
// public routes answer without one. The handler has no Issuer or Verifier:
// a route that reached either without authenticating would panic.
func TestEveryRouteAuthenticated(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{Metrics: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}))
	defer srv.Close()
	public := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /admin/v1/openapi.json": true, "GET /metrics": true}
	for _, rt := range routes(Config{Logger: slog.New(slog.DiscardHandler)}) {
		name := rt.method + " " + rt.path
		t.Run(name, func(t *testing.T) {
			path := strings.NewReplacer("{id}", "alice@example.com", "{idx}", "0").Replace(rt.path)
			req, err := http.NewRequestWithContext(t.Context(), rt.method, srv.URL+path, strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusUnauthorized
			if public[name] {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("%s without a credential = %d, want %d", name, resp.StatusCode, want)
			}
		})
	}
}
