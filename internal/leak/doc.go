// Package leak is scopegate's answer to a leaked key: it tells a secret
// scanner whether a found key is live, revokes a reported key as the
// system actor and raises a key_leaked alert to its owner, and checks the
// signatures of GitHub's secret-scanning reports. It holds no HTTP; the
// data plane's handlers (internal/proxy/leaks.go) call it. See
// docs/leaks.md.
package leak
