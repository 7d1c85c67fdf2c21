package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/policy"
	"github.com/scopegate/scopegate/internal/provider"
)

// listModels answers GET /v1/models with the models the key may use, in
// the shape of the API the client speaks. Models a key cannot use are not
// listed: the list is itself a disclosure.
func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request, req *request) {
	k, p := &req.verified.Key, &req.verified.Principal
	ids := policy.Models(k, p, g.table.features)
	req.endpoint = "models.list"
	actx, cancel := context.WithTimeout(r.Context(), g.auditTimeout)
	err := g.auditor.Authz(actx, g.authzEvent(req, decisionAllow, string(policy.ReasonAllowed), 0, ""))
	cancel()
	if err != nil {
		g.deny(r.Context(), w, req, &gateError{status: http.StatusServiceUnavailable, reason: "audit_unavailable",
			msg: "the gateway cannot record this request; try again shortly", err: err})
		return
	}
	var body any
	if req.api == provider.APIAnthropic {
		type model struct {
			Type        string `json:"type"`
			ID          string `json:"id"`
			DisplayName string `json:"display_name"`
			CreatedAt   string `json:"created_at"`
		}
		data := make([]model, len(ids))
		for i, id := range ids {
			data[i] = model{Type: "model", ID: id, DisplayName: id, CreatedAt: "1970-01-01T00:00:00Z"}
		}
		first, last := "", ""
		if len(ids) > 0 {
			first, last = ids[0], ids[len(ids)-1]
		}
		body = map[string]any{"data": data, "has_more": false, "first_id": first, "last_id": last}
	} else {
		type model struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		}
		data := make([]model, len(ids))
		for i, id := range ids {
			data[i] = model{ID: id, Object: "model", OwnedBy: "scopegate"}
		}
		body = map[string]any{"object": "list", "data": data}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
	g.auditor.Usage(r.Context(), audit.Usage{RequestID: req.id, KeyID: string(req.keyID), Status: http.StatusOK, Outcome: "ok", Latency: g.now().Sub(req.start)})
	g.metrics.Request("", req.endpoint, decisionAllow, "ok", http.StatusOK)
	g.metrics.Latency("", decisionAllow, time.Since(req.began), 0, 0)
}
