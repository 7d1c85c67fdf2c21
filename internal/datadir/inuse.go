package datadir

import (
	"os"
	"path/filepath"
	"strconv"
)

// Holders returns the ids of the processes that have the file name inside
// the directory open, as Linux's /proc shows them: the processes of the
// same user, or all of them for root. It returns nil where /proc is not
// available, so a nil answer means "none seen", not "none".
//
// Tools that write the embedded store directly, bypassing the server (the
// benchmark's key seeding), use it to refuse a directory whose server is
// running; the server itself takes no lock.
func (d *Dir) Holders(name string) []int {
	target, err := filepath.EvalSymlinks(d.Join(name))
	if err != nil {
		return nil
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		if holds(filepath.Join("/proc", p.Name(), "fd"), target) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// holds reports whether one of the descriptors in the /proc fd directory
// dir refers to the file target.
func holds(dir, target string) bool {
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false // gone, or not ours to see
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == target {
			return true
		}
	}
	return false
}
