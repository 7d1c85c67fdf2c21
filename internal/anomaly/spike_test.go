package anomaly

import (
	"math"
	"testing"
)

// TestEWMADecay checks the closed form of k empty minutes against k
// single steps.
func TestEWMADecay(t *testing.T) {
	for _, tt := range []struct {
		alpha float64
		k     int64
	}{{0.05, 1}, {0.05, 7}, {0.05, 300}, {0.5, 3}, {0.001, 2000}, {1, 5}} {
		stepped := ewma{mean: 40, variance: 90}
		closed := stepped
		for range tt.k {
			stepped.add(0, tt.alpha)
		}
		closed.decay(tt.k, tt.alpha)
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a)) }
		if !near(stepped.mean, closed.mean) || !near(stepped.variance, closed.variance) {
			t.Errorf("alpha %v, %d minutes: closed form %+v, steps %+v", tt.alpha, tt.k, closed, stepped)
		}
	}
}

func TestEWMALimit(t *testing.T) {
	tests := []struct {
		name string
		s    ewma
		want int64
	}{
		{"Minimum", ewma{mean: 1, variance: 1}, 59},
		{"FactorTimesMean", ewma{mean: 100, variance: 25}, 500},
		{"MeanPlusFactorStddev", ewma{mean: 100, variance: 10000}, 600},
		{"Peak", ewma{mean: 10, peak: 400}, 800},
		{"Huge", ewma{mean: 1e300, variance: 1e300}, math.MaxInt64},
		{"NaN", ewma{mean: math.NaN()}, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := tt.s.limit(5, 60); got != tt.want {
			t.Errorf("%s: %+v.limit(5, 60) = %d, want %d", tt.name, tt.s, got, tt.want)
		}
	}
}

// TestRateWarmupWeights checks that a young key's baseline is the plain
// mean and variance of its minutes, gaps included.
func TestRateWarmupWeights(t *testing.T) {
	p := spikeParams{factor: 5, alpha: 0.05, minReqs: 60, minTk: 1, warmup: 3}
	var r rateState
	r.start(0)
	for m, n := range []int{10, 20, 0, 0, 30} { // minutes 2 and 3 empty
		for range n {
			r.addRequest(int64(m)*minuteMs+1, &p)
		}
	}
	r.roll(5*minuteMs, &p)
	// Values 10, 20, 0, 0, 30: mean 12, population variance 136.
	if math.Abs(r.req.mean-12) > 1e-9 || math.Abs(r.req.variance-136) > 1e-9 || r.minutes != 5 {
		t.Errorf("after 5 minutes: mean %v, variance %v, minutes %d; want 12, 136, 5", r.req.mean, r.req.variance, r.minutes)
	}
}
