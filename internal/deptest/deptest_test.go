package deptest

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/build"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/scopegate/scopegate"

// domain lists the domain packages and the packages of this module each
// may depend on (directly or not). A package not yet written is skipped.
// nil means "any of this module's packages not forbidden below".
var domain = map[string][]string{
	"internal/scope":     {},
	"internal/apikey":    {"internal/scope"},
	"internal/policy":    nil,
	"internal/audit":     nil,
	"internal/ratelimit": nil,
	"internal/usage":     {"internal/apikey", "internal/scope"},
	"internal/anomaly":   nil,
	"internal/config":    nil,
	"internal/leak":      nil,
}

// forbidden are import paths that no domain package may depend on, with
// the packages below them: I/O adapters belong at the edges, and testing
// belongs in the xxxtest packages, out of the binary.
var forbidden = []string{
	"net/http",
	"database/sql",
	"github.com/jackc",
	"modernc.org",
	"github.com/redis",
	"github.com/prometheus",
	module + "/internal/metrics",
	module + "/internal/store",
	module + "/internal/admin",
	module + "/internal/adminclient",
	module + "/internal/notify",
	module + "/internal/proxy",
	module + "/cmd",
	"testing",
}

// forbiddenRule returns the entry of forbidden that dep falls under, or "".
func forbiddenRule(dep string) string {
	for _, f := range forbidden {
		if dep == f || strings.HasPrefix(dep, f+"/") {
			return f
		}
	}
	return ""
}

// goListPackage is the part of "go list -json" output the test reads.
type goListPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

func TestImportDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped under -short")
	}
	root := moduleRoot(t)
	var pkgs []string
	for dir := range domain {
		if hasGoFiles(filepath.Join(root, dir)) {
			pkgs = append(pkgs, module+"/"+dir)
		}
	}
	slices.Sort(pkgs)
	if !slices.Contains(pkgs, module+"/internal/scope") || !slices.Contains(pkgs, module+"/internal/apikey") {
		t.Fatalf("found domain packages %v; scope and apikey must exist", pkgs)
	}

	listed := goList(t, root, pkgs)
	for _, path := range pkgs {
		p, ok := listed[path]
		if !ok {
			t.Errorf("go list did not report %s", path)
			continue
		}
		if p.Error != nil {
			t.Errorf("%s: %s (its imports cannot be checked)", path, p.Error.Err)
		}
		allowed := domain[strings.TrimPrefix(path, module+"/")]
		reported := map[string]bool{}
		for _, dep := range p.Deps { // sorted, so a rule's root comes first
			if rule := forbiddenRule(dep); rule != "" {
				if !reported[rule] {
					t.Errorf("%s depends on %s%s; a domain package must not (STYLE.md §1: adapters import the domain, not the reverse, and testing stays in xxxtest packages)",
						path, dep, via(listed, path, dep))
				}
				reported[rule] = true
				continue
			}
			internal, ok := strings.CutPrefix(dep, module+"/")
			if ok && allowed != nil && !slices.Contains(allowed, internal) {
				t.Errorf("%s depends on %s%s; it may depend only on %v of this module", path, dep, via(listed, path, dep), allowed)
			}
		}
	}
}

// via names the direct import of pkg through which it depends on dep, to
// point at the line to change.
func via(listed map[string]goListPackage, pkg, dep string) string {
	for _, imp := range listed[pkg].Imports {
		if imp == dep {
			return ""
		}
		if slices.Contains(listed[imp].Deps, dep) {
			return " (through " + imp + ")"
		}
	}
	return ""
}

// goList runs "go list -deps -json" on pkgs in dir and returns every
// package it reports, the dependencies included, by import path.
func goList(t *testing.T, dir string, pkgs []string) map[string]goListPackage {
	t.Helper()
	// go test puts the go command that runs it first on PATH, so this is
	// the same toolchain as the test's.
	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command on PATH: %v", err)
	}
	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Imports,Deps,Error"}, pkgs...)
	cmd := exec.CommandContext(t.Context(), gocmd, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	listed := make(map[string]goListPackage)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goListPackage
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		listed[p.ImportPath] = p
	}
	return listed
}

// TestPackageDocs checks that every package under internal/ and cmd/ has a
// package doc comment, in exactly one of its files, in the usual form.
func TestPackageDocs(t *testing.T) {
	root := moduleRoot(t)
	checked := 0
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			if name := d.Name(); path != filepath.Join(root, top) && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			rel, _ := filepath.Rel(root, path)
			if checkPackageDoc(t, path, filepath.ToSlash(rel)) {
				checked++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 3 {
		t.Errorf("checked %d packages; the walk is not finding the code", checked)
	}
}

// checkPackageDoc checks the package in dir, if there is one, and reports
// whether there was.
func checkPackageDoc(t *testing.T, dir, rel string) bool {
	t.Helper()
	pkg, err := build.ImportDir(dir, 0)
	if _, ok := errors.AsType[*build.NoGoError](err); ok {
		return false
	}
	if err != nil && pkg == nil {
		t.Errorf("%s: %v", rel, err)
		return false
	}
	fset := token.NewFileSet()
	var withDoc []string
	for _, name := range pkg.GoFiles { // not _test.go files
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s/%s: %v", rel, name, err)
			continue
		}
		if f.Doc == nil {
			continue
		}
		withDoc = append(withDoc, name)
		text := f.Doc.Text()
		if f.Name.Name != "main" && !strings.HasPrefix(text, "Package "+f.Name.Name+" ") {
			t.Errorf("%s/%s: package comment starts %q, want \"Package %s …\"", rel, name, firstLine(text), f.Name.Name)
		}
	}
	switch {
	case len(pkg.GoFiles) == 0:
		return false // only test files or ignored files
	case len(withDoc) == 0:
		t.Errorf("%s: package %s has no package doc comment (add a doc.go)", rel, pkg.Name)
	case len(withDoc) > 1:
		t.Errorf("%s: package %s has a package comment in %d files (%s), want one", rel, pkg.Name, len(withDoc), strings.Join(withDoc, ", "))
	}
	return true
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// moduleRoot returns the directory of go.mod, two levels above this
// package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module "+module+"\n")) {
		t.Fatalf("%s is not the root of module %s: %v", root, module, err)
	}
	return root
}

// hasGoFiles reports whether dir holds a buildable non-test Go file.
func hasGoFiles(dir string) bool {
	pkg, err := build.ImportDir(dir, 0)
	return err == nil && len(pkg.GoFiles) > 0
}

// TestPrometheusOnlyInMetrics checks that internal/metrics is the only
// package that imports client_golang: the packages it measures declare
// small interfaces that *metrics.Metrics satisfies, and main wires them.
func TestPrometheusOnlyInMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped under -short")
	}
	root := moduleRoot(t)
	listed := goList(t, root, []string{"./..."})
	checked := 0
	for path, p := range listed {
		internal, ok := strings.CutPrefix(path, module+"/")
		if !ok {
			continue
		}
		checked++
		if internal == "internal/metrics" || strings.HasPrefix(internal, "internal/metrics/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/prometheus/") {
				t.Errorf("%s imports %s; only internal/metrics may (declare an interface it satisfies instead)", path, imp)
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d packages of the module; go list is not finding the code", checked)
	}
}

// TestBinaryHasNoTestCode checks that the scopegate binary links neither
// the testing package nor the conformance suites and test helpers
// (apikeytest, testenv), which exist only for tests.
func TestBinaryHasNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped under -short")
	}
	bin := module + "/cmd/scopegate"
	listed := goList(t, moduleRoot(t), []string{bin})
	p, ok := listed[bin]
	if !ok {
		t.Fatalf("go list did not report %s", bin)
	}
	for _, dep := range p.Deps {
		isTestHelper := strings.HasPrefix(dep, module+"/") && (strings.HasSuffix(dep, "test") || strings.HasSuffix(dep, "/testenv"))
		if dep == "testing" || isTestHelper {
			t.Errorf("%s depends on %s%s; test code must stay out of the binary", bin, dep, via(listed, bin, dep))
		}
	}
}
