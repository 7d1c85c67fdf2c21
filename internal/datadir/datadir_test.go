package datadir

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPepperCreatedOnceWithMode0600(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode = %v, want 0700", info.Mode().Perm())
	}
	p1, err := d.Pepper("")
	if err != nil {
		t.Fatal(err)
	}
	if len(p1) != 32 {
		t.Errorf("pepper is %d bytes, want 32", len(p1))
	}
	info, err = os.Stat(d.Join(PepperFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("pepper file mode = %v, want 0600", info.Mode().Perm())
	}
	p2, err := d.Pepper("")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p1, p2) {
		t.Error("second Pepper() returned a different pepper")
	}
}

func TestPepperRefusesReadableFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o666} {
		d, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pepper(""); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d.Join(PepperFile), mode); err != nil {
			t.Fatal(err)
		}
		_, err = d.Pepper("")
		if err == nil || !strings.Contains(err.Error(), "readable by its owner only") {
			t.Errorf("Pepper() with file mode %v: err = %v, want a refusal", mode, err)
		}
	}
}

func TestPepperFromEnv(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Repeat("p", 32)
	p, err := d.Pepper(env)
	if err != nil || string(p) != env {
		t.Fatalf("Pepper(env) = %q, %v", p, err)
	}
	if _, err := os.Stat(d.Join(PepperFile)); !os.IsNotExist(err) {
		t.Errorf("Pepper(env) wrote a pepper file (stat err %v)", err)
	}
	if _, err := d.Pepper("short"); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("Pepper(short env) err = %v, want length error", err)
	}
}

func TestPepperCorruptFile(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"not hex\n", "abcd\n", ""} {
		if err := os.WriteFile(d.Join(PepperFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Pepper(""); err == nil {
			t.Errorf("Pepper() with file %q succeeded", content)
		}
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
}
