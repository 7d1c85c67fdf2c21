// Package apikey defines API keys and principals: the key format, how keys
// are generated, parsed, hashed and verified, the rules for issuing and
// changing them, and the Store they need.
//
// # Key format
//
// A key is "sgk_<env>_<id>_<secret><crc>" (data plane) or the same with
// "sga_" (admin API):
//
//   - env is "live" or "test";
//   - id is 16 base62 characters, random and not secret: the lookup handle
//     shown in logs, lists and audit events;
//   - secret is 43 base62 characters (about 256 bits) from crypto/rand,
//     drawn without modulo bias;
//   - crc is the CRC-32 (IEEE) of everything before it, as 6 base62 digits,
//     most significant first, zero-padded. It lets [Parse] refuse typos and
//     garbage before any lookup, and lets secret scanners avoid false
//     positives.
//
// The base62 alphabet is 0-9, A-Z, a-z in that order. This format never
// changes; a new one would get a new prefix.
//
// # At rest
//
// Only HMAC-SHA256(pepper, key) is stored ([Hasher]). The pepper comes from
// the environment or a file, never from the store. [Secret] holds a presented
// or new key and redacts itself everywhere it could be printed.
//
// # Issuing
//
// [Issuer] creates, changes, rotates and revokes principals and keys for an
// [Actor], and reports each change to a [Recorder]. [Verifier] checks a
// presented key on each request.
package apikey
