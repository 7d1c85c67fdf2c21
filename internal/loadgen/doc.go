// Package loadgen is the load generator behind "scopegate bench": it sends
// HTTP requests to a gateway (scopegate or another) or straight to an
// upstream, and reports latency percentiles, errors and the rate achieved.
//
// # Open and closed loop
//
// In open-loop mode ([Config.Rate] > 0) requests are due at fixed intended
// times, start + i/rate, whatever the server does, and each latency is
// measured from its intended time. A server that stalls therefore shows
// the stall in every request that should have been sent during it, instead
// of hiding it by making the client wait ("coordinated omission"). The
// [Pacer] decides when each request is due; a pool of worker goroutines
// sends them. A request that finds every worker busy and the pool at
// [Config.MaxInFlight] is counted as dropped, never silently skipped.
//
// In closed-loop mode ([Config.Rate] == 0) [Config.Concurrency] workers each
// send one request after another: the maximum throughput, or with one
// worker the latency of one request at a time.
//
// # Measurements
//
// Latencies go into HDR histograms ([Histogram]) and are reported in
// microseconds. For streams, ttfb is the time to the first byte of the
// response body (the first SSE chunk) and the latency is the time to the
// end of the stream, which must end with "data: [DONE]" ([StreamTail]).
// Only answers with the expected status are recorded in the histograms;
// errors are counted by kind.
//
// The client is meant to share a small machine with the servers it
// measures: one [net/http.Transport], request bodies read from one shared
// byte slice, response bodies drained into a per-worker buffer, and no
// formatting on the request path.
package loadgen
