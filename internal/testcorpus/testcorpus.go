// Package testcorpus locates the real Debian security updates that bench/corpus.sh
// fetches, for the tests and benchmarks that run on them. There is one location:
// $PATCHKIT_CORPUS when set, else corpus/ at the top of the module (scripts/test.sh
// fetches it there; a symbolic link to a shared copy works).
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Env names the environment variable that overrides the corpus location.
const Env = "PATCHKIT_CORPUS"

// Dir returns the corpus directory: $PATCHKIT_CORPUS, else corpus/ at the top of the
// module when it exists, else "". A relative $PATCHKIT_CORPUS is taken from the top of
// the module too, so that every package's tests find the same directory.
func Dir() string {
	top := moduleRoot()
	if d := os.Getenv(Env); d != "" {
		if !filepath.IsAbs(d) && top != "" {
			d = filepath.Join(top, d)
		}
		return d
	}
	if top == "" {
		return ""
	}
	d := filepath.Join(top, "corpus")
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}

// moduleRoot returns the nearest directory above the working directory holding go.mod.
func moduleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Trees returns DIR/name/version for each version, and skips tb, saying why, when the
// corpus or any of the trees is missing.
func Trees(tb testing.TB, name string, versions ...string) []string {
	tb.Helper()
	dir := Dir()
	if dir == "" {
		tb.Skip("no corpus: ./corpus does not exist and $" + Env + " is not set (scripts/test.sh fetches it with bench/corpus.sh)")
	}
	var out []string
	for _, v := range versions {
		p := filepath.Join(dir, name, v)
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("%s %s is not in the corpus at %s (fetch it with bench/corpus.sh %s)", name, v, dir, dir)
		}
		out = append(out, p)
	}
	return out
}

// File reads DIR/name/version/rel, skipping tb, saying why, when it is missing.
func File(tb testing.TB, name, version, rel string) []byte {
	tb.Helper()
	p := filepath.Join(Trees(tb, name, version)[0], rel)
	data, err := os.ReadFile(p)
	if err != nil {
		tb.Skipf("corpus file missing: %v", err)
	}
	return data
}
