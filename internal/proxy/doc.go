// Package proxy is the data plane: the http.Handler every model call passes
// through.
//
// # Request path
//
//	authenticate → route → parse + canonicalize → authorize → limit → audit → forward
//
// This milestone implements authentication: exactly one credential
// (Authorization: Bearer, or x-api-key for Anthropic clients), checked by
// apikey.Verifier — shape and checksum before any lookup, HMAC in constant
// time, then key and principal state — and the key's last use recorded in
// batches. GET /v1/models answers an empty list to an authenticated key;
// routing to upstreams comes with features in the data-plane milestone.
//
// Errors are shaped like OpenAI's ({"error":{"message","type","code"}}) so
// official SDKs show them well.
package proxy
