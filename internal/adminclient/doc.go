// Package adminclient is a typed HTTP client for scopegate's admin API, the
// JSON REST API under /admin/v1/ that the management CLI and scripts use.
//
// # Credentials
//
// A [Client] sends its admin key (an "sga_" key) only in the Authorization
// header, and never puts it in an error: [APIError] messages come from the
// server and are scrubbed of the key, and transport errors name only the
// URL, which holds no secret. It refuses redirects, so the key cannot follow
// one to another address.
//
// # Answers
//
// Every method returns the API's records as [Record] values, which hold
// both the decoded wire type from package admin and the JSON exactly as the
// server sent it, so a caller can print what the server said without
// re-encoding it. An answer that is not 2xx is an [*APIError].
//
// # Retries
//
// Reads (GET, and explain, which changes nothing) and requests that carry
// an Idempotency-Key are retried a few times when the connection fails or
// the server answers 502, 503 or 504, with the same body and the same
// Idempotency-Key, so a rotation whose answer was lost is answered with the
// key it already created rather than a second one. Other writes are never
// retried: the client cannot know whether they took effect.
package adminclient
