package auditverify

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtractRefusesBomb checks that an archive expanding far beyond its
// size is refused instead of filling the auditor's disk.
func TestExtractRefusesBomb(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bomb.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	const size = 64 << 20 // zeros compress about 1000 times
	if err := tw.WriteHeader(&tar.Header{Name: "segments/000000000000.jsonl", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range size >> 20 {
		if _, err := tw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	_, temp, err := extractArchive(t.Context(), path)
	if temp != "" {
		os.RemoveAll(temp)
	}
	if err == nil || !strings.Contains(err.Error(), "decompression bomb") {
		t.Fatalf("extractArchive(bomb) = %v, want a refusal", err)
	}
}
