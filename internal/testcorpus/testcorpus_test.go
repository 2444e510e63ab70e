package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDir: $PATCHKIT_CORPUS wins (relative to the module), else ./corpus at the top of
// the module, from whichever package directory the test runs in.
func TestDir(t *testing.T) {
	top := moduleRoot()
	if top == "" {
		t.Fatal("no module root above the test's directory")
	}
	t.Setenv(Env, "/some/where")
	if d := Dir(); d != "/some/where" {
		t.Fatalf("Dir() = %q with $%s set", d, Env)
	}
	t.Setenv(Env, "corpus")
	if d := Dir(); d != filepath.Join(top, "corpus") {
		t.Fatalf("relative $%s: Dir() = %q", Env, d)
	}
	t.Setenv(Env, "")
	_, err := os.Stat(filepath.Join(top, "corpus"))
	if d := Dir(); (err == nil) != (d == filepath.Join(top, "corpus")) {
		t.Fatalf("Dir() = %q, ./corpus exists: %v", d, err == nil)
	}
}
