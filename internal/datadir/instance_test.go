package datadir

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestInstanceIDGenerated(t *testing.T) {
	path := t.TempDir()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.InstanceID("")
	if err != nil {
		t.Fatalf("InstanceID = %v", err)
	}
	if !regexp.MustCompile(`^sg-[a-z2-7]{10}$`).MatchString(id) {
		t.Errorf("InstanceID = %q, want sg- and 10 base32 characters", id)
	}
	st, err := os.Stat(d.Join(InstanceFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("instance id file has mode %#o, want 0600", st.Mode().Perm())
	}
	// A later start, on a fresh Dir value, reads the same id.
	d2, _ := Open(path)
	if again, err := d2.InstanceID(""); err != nil || again != id {
		t.Errorf("InstanceID on restart = %q, %v; want %q", again, err, id)
	}
	// Another directory, another id.
	other, _ := Open(t.TempDir())
	if o, err := other.InstanceID(""); err != nil || o == id {
		t.Errorf("InstanceID of another directory = %q, %v; want a different id", o, err)
	}
}

func TestInstanceIDConfigured(t *testing.T) {
	d, _ := Open(t.TempDir())
	if id, err := d.InstanceID("gw-eu-1"); err != nil || id != "gw-eu-1" {
		t.Errorf("InstanceID(gw-eu-1) = %q, %v", id, err)
	}
	if _, err := os.Stat(d.Join(InstanceFile)); !os.IsNotExist(err) {
		t.Errorf("a configured id wrote the instance id file (stat: %v)", err)
	}
}

func TestInstanceIDInvalid(t *testing.T) {
	for _, id := range []string{"GW-1", "gw_1", "gw 1", "gw.1", "é", strings.Repeat("a", 64)} {
		if err := CheckInstanceID(id); err == nil {
			t.Errorf("CheckInstanceID(%q) = nil, want an error", id)
		}
		d, _ := Open(t.TempDir())
		if _, err := d.InstanceID(id); err == nil {
			t.Errorf("InstanceID(%q) = nil error", id)
		}
	}
	for _, id := range []string{"a", "0", "scopegate-7d9f8b6c5-x2x4z", strings.Repeat("a", 63)} {
		if err := CheckInstanceID(id); err != nil {
			t.Errorf("CheckInstanceID(%q) = %v", id, err)
		}
	}
	// A damaged file is refused, not replaced: the id must not change
	// behind the operator's back.
	d, _ := Open(t.TempDir())
	if err := os.WriteFile(d.Join(InstanceFile), []byte("Not An Id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.InstanceID(""); err == nil {
		t.Error("InstanceID with a damaged file = nil error")
	}
}
