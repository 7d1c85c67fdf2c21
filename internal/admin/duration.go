package admin

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses the duration s given in field. It takes what
// time.ParseDuration takes ("720h", "20m", "1h30m", "0s"), and also a
// leading whole number of days with the suffix "d" ("90d", "1d12h"),
// because key lifetimes are counted in days and Go durations stop at hours.
// A day is 24 hours. Negative durations are refused here: no field of this
// API takes one.
func parseDuration(field, s string) (time.Duration, error) {
	d, ok := parseDays(s)
	if !ok {
		return 0, badRequest(field, "%q is not a duration; use e.g. \"90d\", \"720h\", \"20m\" or \"0s\"", s)
	}
	return d, nil
}

func parseDays(s string) (time.Duration, bool) {
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, false
	}
	daysText, rest, hasDays := strings.Cut(s, "d")
	if !hasDays {
		d, err := time.ParseDuration(s)
		return d, err == nil
	}
	days, err := strconv.ParseInt(daysText, 10, 64)
	if err != nil || days > math.MaxInt64/int64(24*time.Hour) {
		return 0, false
	}
	d := time.Duration(days) * 24 * time.Hour
	if rest == "" {
		return d, true
	}
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		return 0, false
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r > math.MaxInt64-d {
		return 0, false
	}
	return d + r, true
}
