package main

import (
	"github.com/patchkit/patchkit/internal/testcorpus"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

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

// TestCrashScripts runs testdata/crash/*.txtar: commands killed at a given filesystem
// step or given a full disk, then repaired by the next command. Fault injection exists
// only in a crashtest build, so these run with
//
//	go test -tags crashtest -run TestCrashScripts ./cmd/patchkit
//
// (scripts/crashtest.sh does) and are skipped otherwise.
func TestCrashScripts(t *testing.T) {
	if !crashBuild {
		t.Skip("fault injection needs -tags crashtest")
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/crash",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			return nil
		},
		RequireExplicitExec: true,
	})
}
