package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
)

// mockEmbeddingDims is the length of an embedding when the request does not
// ask for "dimensions": short, so test failures stay readable.
const mockEmbeddingDims = 8

// mockMaxEmbeddingDims is the largest "dimensions" the mock accepts, that of
// OpenAI's largest embedding model.
const mockMaxEmbeddingDims = 3072

// mockEmbeddingRequest is the part of an embeddings request the mock reads.
type mockEmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

type mockEmbeddingList struct {
	Object string              `json:"object"`
	Data   []mockEmbedding     `json:"data"`
	Model  string              `json:"model"`
	Usage  mockEmbeddingsUsage `json:"usage"`
}

type mockEmbedding struct {
	Object string `json:"object"`
	Index  int    `json:"index"`
	// Embedding is a []float32, or a base64 string of little-endian
	// float32s when the request asked for encoding_format "base64".
	Embedding any `json:"embedding"`
}

type mockEmbeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

func (m *mockServer) embeddings(c *mockCall) {
	var req mockEmbeddingRequest
	if !c.decode(&req) || !c.checkModel(req.Model) {
		return
	}
	inputs, ok := mockInputs(req.Input)
	if !ok || len(inputs) == 0 {
		c.fail(http.StatusBadRequest, "input", "invalid_value",
			"input: want a non-empty string, array of strings, or array of token arrays")
		return
	}
	for _, in := range inputs {
		if in.label == "" || in.label == "[]" {
			c.fail(http.StatusBadRequest, "input", "invalid_value", "input: an input must not be empty")
			return
		}
	}
	dims := mockEmbeddingDims
	if req.Dimensions != nil {
		dims = *req.Dimensions
		if dims < 1 || dims > mockMaxEmbeddingDims {
			c.fail(http.StatusBadRequest, "dimensions", "invalid_value", "dimensions: must be from 1 to 3072")
			return
		}
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		c.fail(http.StatusBadRequest, "encoding_format", "invalid_value", "encoding_format: must be float or base64")
		return
	}
	out := mockEmbeddingList{Object: "list", Model: req.Model, Data: make([]mockEmbedding, len(inputs))}
	for i, in := range inputs {
		v := mockVector(req.Model, in.label, dims)
		var e any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 0, 4*len(v))
			for _, f := range v {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		out.Data[i] = mockEmbedding{Object: "embedding", Index: i, Embedding: e}
	}
	n := max(mockInputCount(inputs), 1)
	out.Usage = mockEmbeddingsUsage{PromptTokens: n, TotalTokens: n}
	c.writeJSON(http.StatusOK, out)
}

// mockVector derives a unit vector of dims float32s from model and label:
// SHA-256 in counter mode, each 4 bytes mapped to [-1, 1), then normalized,
// as real embeddings are.
func mockVector(model, label string, dims int) []float32 {
	seed := sha256.Sum256([]byte(model + "\x00" + label))
	raw := make([]float64, dims)
	var block [sha256.Size]byte
	var norm float64
	for i := range dims {
		if i%8 == 0 {
			block = sha256.Sum256(binary.BigEndian.AppendUint32(seed[:], uint32(i/8)))
		}
		u := binary.BigEndian.Uint32(block[(i%8)*4:])
		x := float64(u)/(1<<32)*2 - 1
		raw[i] = x
		norm += x * x
	}
	norm = math.Sqrt(norm)
	v := make([]float32, dims)
	for i, x := range raw {
		if norm > 0 {
			x /= norm
		}
		v[i] = float32(x)
	}
	return v
}
