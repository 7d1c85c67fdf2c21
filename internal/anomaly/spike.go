package anomaly

import (
	"math"
	"time"
)

// minuteMs is the rate rule's bucket, in ms.
const minuteMs = 60_000

// The rate rule's peak guard: a minute must also exceed peakFactor times
// the key's busiest ordinary minute, which halves every peakHalfLife
// minutes. It is what keeps a key that sleeps every night or weekend (its
// baseline decays to zero) from alarming each morning at its usual rate.
const (
	peakFactor   = 2
	peakHalfLife = 7 * 24 * 60 // minutes
)

// spikeParams are the rate rule's thresholds.
type spikeParams struct {
	factor         float64
	alpha          float64
	minReqs, minTk int64
	warmup         int32
}

// ewma is an exponentially weighted mean and variance of a key's values per
// minute (requests, or tokens), and the peak guard.
type ewma struct {
	mean, variance float64
	peak           float64 // the busiest minute that did not exceed its limit, decayed
}

// add folds in one minute's value x with weight a (West/Finch's
// incremental form: with a = 1 the mean is x and the variance 0).
func (s *ewma) add(x, a float64) {
	diff := x - s.mean
	incr := a * diff
	s.mean += incr
	s.variance = (1 - a) * (s.variance + diff*incr)
}

// decay folds in k minutes of zero with weight a, in closed form: with
// d = (1-a)^k, the mean becomes d·mean and the variance
// d·(variance + mean²·(1-d)), which is what k calls of add(0, a) give.
func (s *ewma) decay(k int64, a float64) {
	d := math.Pow(1-a, float64(k))
	s.variance = d * (s.variance + s.mean*s.mean*(1-d))
	s.mean *= d
}

// limit returns the largest value a minute may reach without tripping
// the rule: the floor of max(mean + factor·stddev, factor·mean,
// peakFactor·peak, minimum-1), so that an integer value trips exactly when
// it is greater than each of the first three and at least minimum.
func (s *ewma) limit(factor float64, minimum int64) int64 {
	sd := math.Sqrt(max(s.variance, 0))
	l := max(s.mean+factor*sd, factor*s.mean, peakFactor*s.peak, float64(minimum-1))
	if !(l < math.MaxInt64) { // also NaN
		return math.MaxInt64
	}
	return int64(l)
}

// rateState is the rate rule's state of one key: the counts of its
// current minute, the limits they may reach, and the baselines of its past
// minutes.
type rateState struct {
	minuteEnd         int64 // ms: the current minute ends here
	reqs, tokens      int64 // in the current minute
	reqLimit, tkLimit int64 // the current minute trips above these
	req, tk           ewma
	minutes           int32 // minutes closed since the key's first event, up to MaxInt32
	spiking           bool  // in an episode
}

// start makes r the state of a key first seen at now.
func (r *rateState) start(now int64) {
	*r = rateState{minuteEnd: (floorDiv(now, minuteMs) + 1) * minuteMs, reqLimit: math.MaxInt64, tkLimit: math.MaxInt64}
}

// roll moves r to the minute of now, closing the current minute and the
// empty ones after it: each updates the baselines (an empty minute counts
// as zero) and ends an episode when it did not trip. O(1) whatever the
// gap, but for the first 1/alpha minutes of a key's life, which are
// folded one by one (see weight).
func (r *rateState) roll(now int64, p *spikeParams) {
	if now < r.minuteEnd {
		return
	}
	tripped := r.reqs > r.reqLimit || r.tokens > r.tkLimit
	if !tripped {
		r.spiking = false
	}
	a := r.weight(p)
	r.req.closeMinute(float64(r.reqs), a, r.reqs > r.reqLimit)
	r.tk.closeMinute(float64(r.tokens), a, r.tokens > r.tkLimit)
	r.minutes = satInc32(r.minutes, 1)

	cur := floorDiv(now, minuteMs)
	if gap := cur - r.minuteEnd/minuteMs; gap > 0 {
		r.spiking = false
		r.decay(gap, p)
	}
	r.minuteEnd = (cur + 1) * minuteMs
	r.reqs, r.tokens = 0, 0
	if r.minutes < p.warmup {
		r.reqLimit, r.tkLimit = math.MaxInt64, math.MaxInt64
		return
	}
	r.reqLimit = r.req.limit(p.factor, p.minReqs)
	r.tkLimit = r.tk.limit(p.factor, p.minTk)
}

// closeMinute folds one closed minute's value x into s with weight a; a
// minute that tripped the rule does not raise the peak.
func (s *ewma) closeMinute(x, a float64, tripped bool) {
	s.add(x, a)
	s.peak *= peakDecay
	if !tripped && x > s.peak {
		s.peak = x
	}
}

// peakDecay is the peak's decay per minute.
var peakDecay = math.Exp2(-1.0 / peakHalfLife)

// weight returns the weight of the next closed minute: max(alpha,
// 1/(n+1)) after n minutes, so the baseline is the plain mean and variance
// of a young key's minutes and not biased towards zero, and becomes the
// exponentially weighted one after 1/alpha minutes.
func (r *rateState) weight(p *spikeParams) float64 {
	return max(p.alpha, 1/(float64(r.minutes)+1))
}

// decay folds in k empty minutes.
func (r *rateState) decay(k int64, p *spikeParams) {
	for ; k > 0 && r.weight(p) > p.alpha; k-- {
		a := r.weight(p)
		r.req.closeMinute(0, a, false)
		r.tk.closeMinute(0, a, false)
		r.minutes = satInc32(r.minutes, 1)
	}
	if k <= 0 {
		return
	}
	r.req.decay(k, p.alpha)
	r.tk.decay(k, p.alpha)
	pd := math.Exp2(-float64(k) / peakHalfLife)
	r.req.peak *= pd
	r.tk.peak *= pd
	r.minutes = satInc32(r.minutes, k)
}

// addRequest counts a request at now and reports whether the minute
// trips the rule and starts an episode.
func (r *rateState) addRequest(now int64, p *spikeParams) bool {
	r.roll(now, p)
	r.reqs = satAdd(r.reqs, 1)
	return r.trip()
}

// addTokens counts n tokens at now and reports whether the minute trips
// the rule and starts an episode.
func (r *rateState) addTokens(now, n int64, p *spikeParams) bool {
	r.roll(now, p)
	r.tokens = satAdd(r.tokens, max(n, 0))
	return r.trip()
}

func (r *rateState) trip() bool {
	if r.spiking || r.reqs <= r.reqLimit && r.tokens <= r.tkLimit {
		return false
	}
	r.spiking = true
	return true
}

// floorDiv returns a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// satAdd returns a+b (b ≥ 0), at most MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// satInc32 returns n+k (k ≥ 0), at most MaxInt32.
func satInc32(n int32, k int64) int32 {
	if k >= int64(math.MaxInt32-n) {
		return math.MaxInt32
	}
	return n + int32(k)
}

// spikeAlert returns the rate alert about key id, whose current minute
// has just tripped the rule: the figures of the metric that tripped it
// (requests first).
func (d *Detectors) spikeAlert(id string, ks *keyState, at time.Time) Alert {
	r := &ks.rate
	name, value, limit, s := "requests_per_minute", r.reqs, r.reqLimit, &r.req
	if r.reqs <= r.reqLimit {
		name, value, limit, s = "tokens_per_minute", r.tokens, r.tkLimit, &r.tk
	}
	var f figureList
	f.int(name, value)
	f.int("threshold", limit)
	f.float("mean", s.mean)
	f.float("stddev", math.Sqrt(max(s.variance, 0)))
	f.float("peak", s.peak)
	f.float("factor", d.spike.factor)
	return newAlert(RuleRateSpike, keySubject(id), ks.principal, id, f, at)
}
