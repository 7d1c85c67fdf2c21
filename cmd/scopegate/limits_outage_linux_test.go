//go:build linux

package main

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// listenBlackHole listens on addr (an IPv4 host:port) with a backlog of
// zero and fills its accept queue, which then holds one connection: from
// then on the kernel drops the SYNs of new connections, as a firewall or a
// network partition does, and a dial waits until its timeout. It needs no
// privileges. The returned func closes it.
func listenBlackHole(t *testing.T, addr string) func() {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		t.Fatalf("black hole address %q: want an IPv4 host:port (%v)", addr, err)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("black hole socket: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			syscall.Close(fd)
		}
	}()
	// The port was just a proxy's, whose closed connections linger.
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatalf("black hole SO_REUSEADDR: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}); err != nil {
		t.Fatalf("black hole bind %s: %v", addr, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("black hole listen: %v", err)
	}
	filler, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("black hole: fill the accept queue: %v", err)
	}
	ok = true
	return func() {
		filler.Close()
		syscall.Close(fd)
	}
}
