package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/pkg/install"
	"github.com/rogpeppe/go-internal/testscript"
)

// The patchkit of the test scripts honours PATCHKIT_CRASH_AFTER and PATCHKIT_STAGE_LIMIT
// (crash_*.txtar), as a binary built with -tags crashtest does.
func init() { install.FaultInjectionFromEnv() }

// TestCorpusScripts runs testdata/corpus/*.txtar: end-to-end scripts on the real trees
// of the corpus ($PATCHKIT_CORPUS, default /work/corpus), skipped when it is missing.
func TestCorpusScripts(t *testing.T) {
	dir := os.Getenv("PATCHKIT_CORPUS")
	if dir == "" {
		dir = "/work/corpus"
	}
	if _, err := os.Stat(filepath.Join(dir, "libssl3", "3.0.17-1~deb12u2")); err != nil {
		t.Skipf("no libssl3 corpus in %s (set PATCHKIT_CORPUS)", dir)
	}
	if testing.Short() {
		t.Skip("-short")
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/corpus",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("PATCHKIT_CORPUS", dir)
			return nil
		},
		RequireExplicitExec: true,
	})
}
