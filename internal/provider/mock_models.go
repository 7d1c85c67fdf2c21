package provider

import "net/http"

// mockModelOwner is the owned_by of every model the mock lists.
const mockModelOwner = "scopegate-mock"

type mockModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type mockModelList struct {
	Object string      `json:"object"`
	Data   []mockModel `json:"data"`
}

// listModels answers OpenAI's GET /v1/models with the mock's own models.
func (m *mockServer) listModels(c *mockCall) {
	list := mockModelList{Object: "list", Data: []mockModel{}}
	for _, id := range mockModels() {
		list.Data = append(list.Data, mockModel{ID: id, Object: "model", Created: c.created, OwnedBy: mockModelOwner})
	}
	c.writeJSON(http.StatusOK, list)
}

// getModel answers OpenAI's GET /v1/models/{model} for any model the mock
// serves.
func (m *mockServer) getModel(c *mockCall) {
	id := c.r.PathValue("model")
	if !c.checkModel(id) {
		return
	}
	c.writeJSON(http.StatusOK, mockModel{ID: id, Object: "model", Created: c.created, OwnedBy: mockModelOwner})
}
