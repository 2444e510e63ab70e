// Package testcorpus locates the real Debian security updates that bench/corpus.sh
// fetches, for the tests and benchmarks that run on them.
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory: $PATCHKIT_CORPUS, else corpus/ or bench/corpus/ at
// the top of the module when present, else "".
func Dir() string {
	if d := os.Getenv("PATCHKIT_CORPUS"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			for _, c := range []string{"corpus", filepath.Join("bench", "corpus")} {
				if fi, err := os.Stat(filepath.Join(dir, c)); err == nil && fi.IsDir() {
					return filepath.Join(dir, c)
				}
			}
			return ""
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Trees returns DIR/name/version for each version, and skips tb when the corpus or any
// of the trees is missing.
func Trees(tb testing.TB, name string, versions ...string) []string {
	tb.Helper()
	dir := Dir()
	if dir == "" {
		tb.Skip("no corpus: run bench/corpus.sh or set PATCHKIT_CORPUS")
	}
	var out []string
	for _, v := range versions {
		p := filepath.Join(dir, name, v)
		if _, err := os.Stat(p); err != nil {
			tb.Skipf("%s %s is not in the corpus at %s", name, v, dir)
		}
		out = append(out, p)
	}
	return out
}
