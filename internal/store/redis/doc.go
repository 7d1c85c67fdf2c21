// Package redis keeps the rate-limit counters of every gateway replica on
// one Redis server: [Store] implements [ratelimit.Store] with
// [github.com/redis/go-redis/v9], with exactly the semantics of package
// ratelimit: the same answers as [ratelimit.Memory], which the conformance
// suite in package ratelimittest checks.
//
// # Scripts
//
// Each Take is one run of a Lua script, take.lua, and each Settle one of
// settle.lua, run with EVALSHA (falling back to EVAL when the server does
// not have the script yet): one round trip each. A script runs atomically,
// so take.lua checks every limit of a request and takes from all of them
// or from none, with no other client between the check and the take, and
// a refusal names the limit with the longest wait, as in memory.
//
// Lua numbers are doubles, so Go reduces everything to integers below 2⁵³
// before the script sees them: times are Unix microseconds
// ([ratelimit.Resolution]), the GCRA emission interval ⌈c·1min/Max⌉ is
// computed in Go ([ratelimit.Limit.Interval]), and every count is bounded
// by [ratelimit.MaxUnits]. The script writes numbers with
// string.format('%d'), because Lua's tostring keeps only 14 digits. The
// quotas are computed in Go from the state the script returns, with the
// same functions as the in-memory store.
//
// # Clock
//
// A request with a Now is decided at that time. Without one the script
// reads the server's clock (TIME), so that every replica decides by the
// same clock and [ratelimit.Grant.At] reports it. Lua has no calendar, so
// Go computes the UTC day and month windows of the budgets: for a request
// without a Now it sends the window of its own clock and the ones before
// and after it, and the script uses the one that holds the server's time.
// So the two clocks may differ by up to a day (at least); beyond that a
// request with a budget fails rather than be counted in the wrong window.
//
// # Keys
//
// Each counter is one key, a prefix (by default "scopegate:rl:", see
// [Options]), then the limit's scope and kind:
//
//	scopegate:rl:key:<id>:requests_per_minute      string: the TAT
//	scopegate:rl:key:<id>:tokens_per_minute        string: the TAT
//	scopegate:rl:principal:<id>:tokens_per_day     hash: used, start, end
//	scopegate:rl:principal:<id>:cost_per_month     hash: used, start, end
//	scopegate:rl:key:<id>:concurrent               sorted set: request ID scored by lease expiry
//
// All numbers are microseconds or units. Every key expires once it is the
// same as a missing one, so idle counters vanish and memory is bounded by
// the scopes in use: a TAT when it passes (a TAT already passed is deleted
// at once), a budget an hour after its window ends (for gateways whose
// clocks run behind), a set of leases at its latest lease's expiry. The
// TTLs are set from the request's time, relative to the decision, and so
// hold whichever clock decided.
//
// A script touches the keys of a request's key and principal, which
// Redis Cluster allows only within one hash slot; on a cluster the prefix
// must hold a hash tag such as "{scopegate}:rl:", which puts every counter
// on one shard.
//
// # Errors
//
// A request that does not validate fails with [ratelimit.ErrInvalid]
// before any round trip. Any other error (a server that cannot be
// reached, a timeout, a clock too far off) is returned wrapped, never as a
// [*ratelimit.ExceededError], so the gateway fails closed with 503. The
// store does not retry: a Take whose reply was lost may have run, and
// running it again would count the request twice, so the client should
// be made with retries off (MaxRetries: -1).
package redis
