package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scopegate/scopegate/internal/audit"
	"github.com/scopegate/scopegate/internal/ratelimit"
)

// AlertRecorder records alerts; *audit.Log is one.
type AlertRecorder interface {
	Alert(ctx context.Context, a audit.Alert) error
}

// budgetWatch raises an "alert.budget" event when a day or month budget's
// use crosses one of the configured percentages. A crossing is seen by
// the one Take or Settle whose change moved the use across the threshold:
// the store applies them atomically, so every replica sees a different
// before and after, and one of them sees the crossing. A use that falls
// back (a refund) and crosses again in the same window is not alerted
// twice: this instance remembers what it sent per window.
type budgetWatch struct {
	thresholds []int
	rec        AlertRecorder
	logger     *slog.Logger

	mu   sync.Mutex
	sent map[budgetAlertKey]time.Time // → the end of the alert's window
	wg   sync.WaitGroup
}

// budgetAlertKey identifies one alert: one threshold of one budget in one
// window.
type budgetAlertKey struct {
	scope  string
	kind   ratelimit.Kind
	window string
	pct    int
}

// maxSentAlerts bounds the memory of sent alerts; past it, those of ended
// windows are forgotten.
const maxSentAlerts = 4096

func newBudgetWatch(thresholds []int, rec AlertRecorder, logger *slog.Logger) *budgetWatch {
	if len(thresholds) == 0 || rec == nil {
		return nil
	}
	return &budgetWatch{thresholds: thresholds, rec: rec, logger: logger, sent: make(map[budgetAlertKey]time.Time)}
}

// observe looks at quotas, the state of limits after a change of added
// units to each (the same for every limit of one kind class: tokens to
// token limits, cost to cost limits), at now, and raises the alerts whose
// threshold the change crossed. principal is the request's principal.
func (b *budgetWatch) observe(quotas []ratelimit.Quota, tokens, cost int64, principal string, now time.Time) {
	if b == nil {
		return
	}
	for _, q := range quotas {
		var added int64
		switch q.Limit.Kind {
		case ratelimit.TokensPerDay, ratelimit.TokensPerMonth:
			added = tokens
		case ratelimit.CostPerDay, ratelimit.CostPerMonth:
			added = cost
		default:
			continue
		}
		if added <= 0 {
			continue
		}
		used := q.Used
		before := used - added
		for _, pct := range b.thresholds {
			at := threshold(q.Limit.Max, pct)
			if before < at && at <= used {
				b.raise(q, pct, used, principal, now)
			}
		}
	}
}

// threshold returns ⌈max·pct/100⌉, the use at which pct is reached.
func threshold(max int64, pct int) int64 {
	p := int64(pct)
	if max > (1<<62)/p { // avoid overflow for huge budgets
		return max / 100 * p
	}
	return (max*p + 99) / 100
}

// raise records one alert unless it was already sent in this window. The
// audit append runs in the background: a crossing must not slow the
// request that made it.
func (b *budgetWatch) raise(q ratelimit.Quota, pct int, used int64, principal string, now time.Time) {
	window, end := budgetWindowLabel(q.Limit.Kind, now)
	k := budgetAlertKey{scope: q.Limit.Scope, kind: q.Limit.Kind, window: window, pct: pct}
	b.mu.Lock()
	if _, dup := b.sent[k]; dup {
		b.mu.Unlock()
		return
	}
	if len(b.sent) >= maxSentAlerts {
		for old, oldEnd := range b.sent {
			if !oldEnd.After(now) {
				delete(b.sent, old)
			}
		}
	}
	b.sent[k] = end
	b.mu.Unlock()

	a := audit.Alert{Rule: "budget", Subject: q.Limit.Scope, Principal: principal,
		Figures: fmt.Sprintf("kind=%s threshold_pct=%d used=%d max=%d window=%s", q.Limit.Kind, pct, used, q.Limit.Max, window)}
	b.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.rec.Alert(ctx, a); err != nil {
			b.logger.Error("record budget alert", "subject", a.Subject, "figures", a.Figures, logErr, err)
		}
	})
}

// wait waits for the alerts being recorded; tests and shutdown use it.
func (b *budgetWatch) wait() {
	if b != nil {
		b.wg.Wait()
	}
}

// budgetWindowLabel names the UTC day ("2026-11-28") or month ("2026-11")
// of a budget of kind k at now, and returns when it ends.
func budgetWindowLabel(k ratelimit.Kind, now time.Time) (string, time.Time) {
	start, end, _ := k.Window(now)
	if end.Sub(start) > 24*time.Hour {
		return start.Format("2006-01"), end
	}
	return start.Format("2006-01-02"), end
}
