//go:build !linux

package main

import "testing"

// listenBlackHole skips the test: it needs Linux's accept queue behaviour
// (see the Linux version).
func listenBlackHole(t *testing.T, addr string) func() {
	t.Skip("a black hole listener needs Linux")
	return nil
}
