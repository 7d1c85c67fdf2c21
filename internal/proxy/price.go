package proxy

import (
	"math"
	"math/bits"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
)

// Price is what a model costs per million tokens, in micro-dollars.
type Price struct {
	InputPerMillion  apikey.Micros
	OutputPerMillion apikey.Micros
}

// PricesOf returns the price table of cfg, by model id ("*" for the
// rest).
func PricesOf(cfg *config.Config) map[string]Price {
	m := make(map[string]Price, len(cfg.Prices))
	for model, p := range cfg.Prices {
		m[model] = Price{InputPerMillion: apikey.Micros(p.InputPerMillion), OutputPerMillion: apikey.Micros(p.OutputPerMillion)}
	}
	return m
}

// LookupPrice returns the price of model in table: its own entry, else
// the "*" entry.
func LookupPrice(table map[string]Price, model string) (Price, bool) {
	if p, ok := table[model]; ok {
		return p, true
	}
	p, ok := table["*"]
	return p, ok
}

// price returns the price of model in the gateway's table.
func (g *Gateway) price(model string) (Price, bool) { return LookupPrice(g.prices, model) }

// Cost returns what in input and out output tokens cost at p, rounded up
// to the micro-dollar so that many small calls are never free. It
// saturates rather than overflow; negative counts cost nothing.
func (p Price) Cost(in, out int64) apikey.Micros {
	return addMicros(scaled(in, p.InputPerMillion), scaled(out, p.OutputPerMillion))
}

// scaled returns ⌈tokens·perMillion/1e6⌉, saturating at math.MaxInt64.
func scaled(tokens int64, perMillion apikey.Micros) apikey.Micros {
	if tokens <= 0 || perMillion <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(tokens), uint64(perMillion))
	if hi >= 1_000_000 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1_000_000)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return apikey.Micros(q)
}

func addMicros(a, b apikey.Micros) apikey.Micros {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
