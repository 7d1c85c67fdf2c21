package proxy_test

import (
	"math"
	"testing"

	"github.com/scopegate/scopegate/internal/apikey"
	"github.com/scopegate/scopegate/internal/config"
	"github.com/scopegate/scopegate/internal/proxy"
)

// TestPriceCost checks Price.Cost: each of input and output rounded up to
// the micro-dollar, negative counts free, and saturation instead of
// overflow.
func TestPriceCost(t *testing.T) {
	const maxMicros = apikey.Micros(math.MaxInt64)
	tests := []struct {
		name    string
		price   proxy.Price
		in, out int64
		want    apikey.Micros
	}{
		{name: "Free", price: proxy.Price{}, in: 1000, out: 1000, want: 0},
		{name: "NoTokens", price: miniPrice, in: 0, out: 0, want: 0},
		{name: "Exact", price: proxy.Price{InputPerMillion: 1_000_000, OutputPerMillion: 2_000_000}, in: 1_000_000, out: 1_000_000, want: 3_000_000},
		{name: "EachRoundedUp", price: miniPrice, in: 11, out: 7, want: 2 + 5},          // 1.65 + 4.2
		{name: "RoundedApart", price: miniPrice, in: 1, out: 1, want: 1 + 1},            // 0.15 + 0.6, not ⌈0.75⌉
		{name: "SmallestPrice", price: proxy.Price{InputPerMillion: 1}, in: 1, want: 1}, // 10⁻⁶ µ$ is still 1
		{name: "WholeMillionths", price: miniPrice, in: 20, out: 5, want: 3 + 3},
		{name: "NegativeFree", price: miniPrice, in: -100, out: 10, want: 6},
		{name: "NegativePrice", price: proxy.Price{InputPerMillion: -5, OutputPerMillion: 1_000_000}, in: 10, out: 10, want: 10},
		{name: "LargeExact", price: proxy.Price{InputPerMillion: 1_000_000}, in: math.MaxInt64, want: maxMicros},
		// tokens·price overflows 64 bits but the quotient fits.
		{name: "WideProduct", price: proxy.Price{InputPerMillion: 15_000_000}, in: 1 << 59, want: 8_646_911_284_551_352_320},
		// The quotient does not fit in an int64.
		{name: "SaturatesQuotient", price: proxy.Price{InputPerMillion: 1_500_000}, in: math.MaxInt64, want: maxMicros},
		// The 128-bit product's high word is past the divisor.
		{name: "SaturatesProduct", price: proxy.Price{InputPerMillion: math.MaxInt64}, in: math.MaxInt64, want: maxMicros},
		{name: "SaturatesSum", price: proxy.Price{InputPerMillion: math.MaxInt64, OutputPerMillion: math.MaxInt64},
			in: 1_000_000, out: 1_000_000, want: maxMicros},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.price.Cost(tt.in, tt.out); got != tt.want {
				t.Errorf("%+v.Cost(%d, %d) = %d, want %d", tt.price, tt.in, tt.out, got, tt.want)
			}
		})
	}
}

// TestLookupPrice checks that a model's own price comes before "*", and
// that a model neither prices has none.
func TestLookupPrice(t *testing.T) {
	star := proxy.Price{InputPerMillion: 3_000_000, OutputPerMillion: 15_000_000}
	tests := []struct {
		name   string
		table  map[string]proxy.Price
		model  string
		want   proxy.Price
		wantOK bool
	}{
		{name: "Own", table: map[string]proxy.Price{"gpt-4o-mini": miniPrice, "*": star}, model: "gpt-4o-mini", want: miniPrice, wantOK: true},
		{name: "Wildcard", table: map[string]proxy.Price{"gpt-4o-mini": miniPrice, "*": star}, model: "gpt-4o", want: star, wantOK: true},
		{name: "Unpriced", table: map[string]proxy.Price{"gpt-4o-mini": miniPrice}, model: "gpt-4o"},
		{name: "FreeIsPriced", table: map[string]proxy.Price{"local": {}}, model: "local", wantOK: true},
		{name: "NoTable", model: "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := proxy.LookupPrice(tt.table, tt.model)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("LookupPrice(%q) = %+v, %v; want %+v, %v", tt.model, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestPricesOf checks that the config's prices, in dollars, become the
// table in micro-dollars.
func TestPricesOf(t *testing.T) {
	cfg, err := config.Parse([]byte(`
upstreams:
  oai: {kind: openai, base_url: "http://127.0.0.1:1/v1"}
features:
  chat: {upstream: oai, endpoints: [chat.completions], models: [gpt-4o-mini]}
prices:
  gpt-4o-mini: {input_per_million: 0.15, output_per_million: 0.60}
  "*": {input_per_million: 3, output_per_million: 15.000001}
`), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	got := proxy.PricesOf(cfg)
	want := map[string]proxy.Price{"gpt-4o-mini": miniPrice, "*": {InputPerMillion: 3_000_000, OutputPerMillion: 15_000_001}}
	if len(got) != len(want) || got["gpt-4o-mini"] != want["gpt-4o-mini"] || got["*"] != want["*"] {
		t.Errorf("PricesOf = %+v, want %+v", got, want)
	}
}
