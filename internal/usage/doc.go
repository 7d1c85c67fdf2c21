// Package usage counts what the gateway's calls consumed — requests, input
// and output tokens, and cost — in hourly buckets, and answers reports over
// them: per key, principal, team, feature, model, day or hour, over a time
// range.
//
// # Buckets
//
// A bucket is one UTC hour of one key, feature and model ([Record]); its
// counts are sums. Buckets are kept in the database ([Store]), not in
// memory, so that a report sums the traffic of every gateway replica: each
// replica adds its counts to the same rows. The sqlite and postgres
// packages implement Store, and usagetest.Run checks that they agree.
//
// # Recording
//
// The data plane must not wait for a database on every call. A [Recorder]
// sums calls into buckets in memory and adds them to the Store in one
// transaction every second (configurable) and when it is closed, so a
// report lags the traffic by at most one flush interval. When the Store
// fails, the Recorder keeps its sums and adds them on a later flush:
// memory grows with the number of distinct buckets, not with traffic, and
// beyond a cap it drops calls, counts them and says so loudly in its log.
//
// # Reports
//
// A [Query] names a half-open range of whole hours [From, To), the
// [Dimension] values to group by, and exact-match filters. Rows come back
// ordered by their group values, so the same query always answers the same
// rows in the same order.
package usage
