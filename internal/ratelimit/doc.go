// Package ratelimit decides whether a call may proceed under the limits of
// its key and its principal, and keeps the counters behind that decision.
//
// A call is admitted by [Store.Take], which checks every [Limit] of a
// [Request] and takes the request's worst case from all of them at once, or
// from none; after the call, [Store.Settle] corrects the token and cost
// counters to the real usage and gives back the concurrency slot. Both
// report a [Quota] per limit: what is left, and when it is whole again.
// The semantics below are those of every Store: the in-memory one here
// ([NewMemory]) and the Redis one, which must implement them exactly. The
// conformance suite in [ratelimittest] checks them.
//
// # Scopes and kinds
//
// A limit belongs to a scope, "key:<id>" or "principal:<id>" ([KeyScope],
// [PrincipalScope]), and has a [Kind]. Limits of the same kind in different
// scopes are independent counters; a request lists every limit that applies
// to it, normally its key's and its principal's.
//
// # Per-minute limits: GCRA
//
// [RequestsPerMinute] and [TokensPerMinute] use the generic cell rate
// algorithm (GCRA), a token bucket kept as one timestamp per counter, the
// theoretical arrival time (TAT). With Max per minute, a unit of cost
// advances the TAT by the emission interval T = 1min/Max. A request of cost c
// at time now is admitted if
//
//	max(TAT, now) + c·T − now ≤ 1min
//
// and then sets TAT to max(TAT, now) + c·T. Cost is 1 for requests and the
// reserved tokens for tokens. The bucket holds one minute's worth, so:
//
//   - an idle counter admits a burst of up to Max at once (the documented
//     burst), then Max per minute as the bucket refills continuously;
//   - in any interval of length d, at most Max + ⌊d/T⌋ units are admitted:
//     at most Max in an instant, at most 2·Max in any one minute, and at most
//     Max per minute on average;
//   - a refused request waits RetryAfter = max(TAT, now) + c·T − now − 1min,
//     the time until the bucket has refilled enough for it;
//   - a request of cost above Max is never admitted (RetryAfter is one
//     minute, and retrying will not help).
//
// GCRA was chosen over fixed and sliding windows because it bounds bursts
// without a boundary effect (a fixed window admits 2·Max across its edge in
// an instant), keeps one integer per counter, and is O(1) per check, so the
// Redis script reads and writes one value per limit. Settling tokens moves
// the TAT by delta·T (never below now), so unused reservation is returned to
// the bucket and overspend is charged to it.
//
// # Budgets: fixed calendar windows in UTC
//
// [TokensPerDay], [TokensPerMonth], [CostPerDay] and [CostPerMonth] count
// the units used in the current calendar day or month in UTC, whatever the
// location of Request.Now: a day runs from 00:00:00 UTC, a month from
// 00:00:00 UTC on its first day. A request of cost c is admitted if
// used + c ≤ Max; the counter starts again from zero when the window rolls
// over. A refused request waits until the next window starts. Budgets are
// what an operator pays and reports by, so they follow the calendar the
// invoices follow rather than a rolling window. Cost is in micro-dollars.
//
// A settlement is charged to the window in which the reservation was taken
// (Settlement.Taken). If that window has ended, a positive delta (overspend)
// is charged to the current window and a negative one (an unused
// reservation) is dropped: the ended window is closed, and a refund must not
// lend the new window capacity it never had.
//
// # Concurrency: a set of leases
//
// [Concurrent] counts requests in flight as leases, one per Request.ID,
// each with an expiry. Take first drops the leases whose expiry has passed
// (a lease is live while now < expiry), admits the request if fewer than
// Max are left, and adds the lease (ID, now + Request.Lease); the lease
// defaults to [DefaultLease], an hour. Settle drops the lease of
// Settlement.ID; settling an ID that holds no lease (settled already, never
// granted, expired) changes nothing, so settlements may be retried. A
// refused request gets a RetryAfter of one second ([ConcurrentRetryAfter]):
// when a slot frees cannot be known in advance.
//
// Leases rather than a counter because a gateway replica that crashes
// never settles its calls: with a counter their slots would be held
// forever, with leases they free when the leases end. The caller should
// still settle every granted request exactly once, so that slots free
// when the call ends rather than an hour later. Take with the ID of a live
// lease renews it, and needs a free slot like any other Take; IDs are
// unique per call, so this only happens to a caller that reuses them.
//
// # All or nothing
//
// Take checks every limit first and takes from all only if all pass: a
// request refused by its principal's limit takes nothing from its key's.
// The refusal is an [*ExceededError] naming the limit with the longest
// RetryAfter, since the client must wait for all of them. Its reason is
// "rate_limited" for per-minute and concurrency limits and "budget_exceeded"
// for day and month budgets.
//
// # Quotas
//
// A granted Take, and every Settle, return one [Quota] per limit, in the
// order of the limits. Remaining is what the limit would still admit at
// that time: for a per-minute limit ⌊(1min − (TAT − now))·Max/1min⌋, which
// is exactly the largest cost a Take would pass; for a budget Max − used;
// for concurrency Max − live leases; never negative. Reset is how long
// until the limit is whole again: TAT − now, the time to the end of the
// budget's window, or 0 for concurrency. A budget's Max − Remaining is
// what it has used in its window, which is what threshold alerts read.
// [Grant.At] is the time the Take was decided at: Request.Now, or the
// store's clock when Now is zero (for Redis the server's, so that every
// gateway replica decides by one clock); it is the Taken of the
// settlement.
//
// # Time and numbers
//
// Stores compute in whole microseconds ([Resolution]): Request.Now,
// Settlement.Now and Taken are read with [time.Time.UnixMicro], and TATs,
// emission intervals, windows and leases are microseconds. The Redis
// store's script does its arithmetic in Lua, whose numbers are doubles,
// exact for integers up to 2⁵³; a microsecond timestamp needs 51 bits
// today. So both stores use microseconds and bound every count, cost,
// interval and time at [MaxUnits] (2⁵², about 4.5·10¹⁵, the year 2112 as
// a time), where the sum of two is still exact, and give the same answers
// to the microsecond and the unit. A budget's Max above MaxUnits acts as
// MaxUnits. The arithmetic that needs more than 53 bits, the emission
// interval ⌈c·1min/Max⌉ ([Limit.Interval]) and the per-minute Remaining
// ([Limit.RateQuota]), and the calendar windows ([Kind.Window]) are
// computed in Go, in this package, for both stores.
//
// # Memory
//
// The in-memory store keeps, per scope in use, one entry for each kind
// (about 350 bytes, and 50 more per lease). A counter is idle when it is
// equivalent to a fresh one: a GCRA counter whose TAT has passed, a budget
// whose window has ended or is at zero, a concurrency counter without a
// live lease; a scope is idle when all its counters are. Idle scopes are evicted by a sweep that runs once the
// operations since the last one reach the number of scopes held (at least
// 1024), so its cost is amortised O(1) per operation and memory is bounded
// by the scopes active in the last minute, day or month, not by every key
// ever seen. A scope with calls in flight (live leases) is never evicted.
package ratelimit
