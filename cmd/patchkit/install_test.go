package main

import (
	"github.com/patchkit/patchkit/internal/testcorpus"
	"testing"

	"github.com/patchkit/patchkit/pkg/install"
	"github.com/rogpeppe/go-internal/testscript"
)

// The patchkit of the test scripts honours PATCHKIT_CRASH_AFTER and PATCHKIT_STAGE_LIMIT
// (crash_*.txtar), as a binary built with -tags crashtest does.
func init() { install.FaultInjectionFromEnv() }

// TestCorpusScripts runs testdata/corpus/*.txtar: end-to-end scripts on the real trees
// of the corpus (internal/testcorpus), skipped when it is missing.
func TestCorpusScripts(t *testing.T) {
	testcorpus.Trees(t, "libssl3", "3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2")
	dir := testcorpus.Dir()
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
