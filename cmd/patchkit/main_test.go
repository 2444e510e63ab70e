package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"patchkit": func() { os.Exit(main1()) },
	})
}

// TestScripts runs every testdata/script/*.txtar against the real binary.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("PATCHKIT_CORPUS", os.Getenv("PATCHKIT_CORPUS"))
			return nil
		},
		RequireExplicitExec: true,
	})
}
