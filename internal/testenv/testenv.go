// Package testenv finds the services that integration tests need
// (PostgreSQL, Redis) from the environment.
//
// A test that needs a service asks for it with [PostgresDSN],
// [PostgresSchema] or [RedisAddr]. When the variable naming the service is
// unset the test is skipped, so `go test ./...` passes on a machine with
// nothing installed. When SCOPEGATE_TEST_REQUIRE_SERVICES=1 (as .ci/run
// sets it) a missing variable fails the test instead, so CI cannot pass by
// silently skipping.
//
// # Variables
//
//   - SCOPEGATE_TEST_POSTGRES_DSN: a PostgreSQL URL or keyword/value DSN,
//     e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//   - SCOPEGATE_TEST_REDIS_ADDR: host:port of a Redis server
//   - SCOPEGATE_TEST_REQUIRE_SERVICES: "1" turns skips into failures
//
// This package is for tests only; nothing else may import it.
package testenv

import (
	"os"
	"testing"
)

// The environment variables this package reads.
const (
	PostgresDSNVar     = "SCOPEGATE_TEST_POSTGRES_DSN"
	RedisAddrVar       = "SCOPEGATE_TEST_REDIS_ADDR"
	RequireServicesVar = "SCOPEGATE_TEST_REQUIRE_SERVICES"
)

// PostgresDSN returns the DSN of the test PostgreSQL server from
// SCOPEGATE_TEST_POSTGRES_DSN, or skips the test (fails it when services
// are required). Tests that create tables should use PostgresSchema.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return lookup(t, PostgresDSNVar)
}

// RedisAddr returns the address of the test Redis server from
// SCOPEGATE_TEST_REDIS_ADDR, or skips the test (fails it when services are
// required).
func RedisAddr(t testing.TB) string {
	t.Helper()
	return lookup(t, RedisAddrVar)
}

func lookup(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireServicesVar) == "1" {
		t.Fatalf("%s is not set, and %s=1 requires the service", name, RequireServicesVar)
	}
	t.Skipf("%s is not set; skipping a test that needs the service", name)
	return ""
}
