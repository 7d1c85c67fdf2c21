// Package deptest holds repository-wide guard tests, and no code. They run
// with the rest of the suite and fail when the layout that DESIGN.md and
// STYLE.md fix drifts:
//
//   - imports point one way: the domain packages (scope, apikey, policy,
//     audit, ratelimit, anomaly, config) never import net/http,
//     database/sql, a database driver or a store adapter, scope imports no
//     other package of this module, and apikey imports only scope;
//   - every package under internal/ and cmd/ has a package doc comment.
//
// The import test runs "go list -deps", as tailscale's tstest/deptest does,
// and is skipped under -short.
package deptest
