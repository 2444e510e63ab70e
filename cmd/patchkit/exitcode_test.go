package main

import (
	"io"
	"testing"
)

// TestExitCodes runs the command tree in process and maps its error through exitCode,
// the one place exit statuses are decided.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, exitOK},
		{[]string{"--version"}, exitOK},
		{[]string{"bogus"}, exitUsage},
		{[]string{"verfy", "x.pkb"}, exitUsage},
		{[]string{"create", "--bogus"}, exitUsage},
		{[]string{"recall", "bogus"}, exitUsage},
		{[]string{"verify", "x.pkb"}, exitUsage}, // no trust source
		{[]string{"inspect", "testdata/no-such.pkb"}, exitError},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(tc.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		code := exitOK
		if err := cmd.Execute(); err != nil {
			code = exitCode(err)
		}
		if code != tc.want {
			t.Errorf("patchkit %v: exit %d, want %d", tc.args, code, tc.want)
		}
	}
}
