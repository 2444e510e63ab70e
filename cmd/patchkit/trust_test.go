package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runIn runs patchkit in-process in dir and returns its exit code and stderr (with the
// error line main1 would print).
func runIn(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		printError(&errb, err)
		return exitCode(err), errb.String()
	}
	return 0, errb.String()
}

// trustFixture makes keys a and b and a bundle foo.pkb signed by both, in a new dir.
func trustFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("PATCHKIT_PASSWORD", "pw")
	t.Setenv("SOURCE_DATE_EPOCH", "1780000000")
	for _, f := range []string{"base/lib/a.txt", "target/lib/a.txt"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(f), 0o644)
	}
	for _, args := range [][]string{
		{"key", "generate", "--output-key-prefix", "a"},
		{"key", "generate", "--output-key-prefix", "b"},
		{"create", "--base", "base", "--target", "target", "--component", "foo", "--base-version", "1.0", "--label", "1.1", "--sequence", "7", "-o", "foo.pkb"},
		{"sign", "foo.pkb", "--key", "a.key", "--key", "b.key"},
	} {
		if code, msg := runIn(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, msg)
		}
	}
	return dir
}

// The exit codes of the trust rules (issue 13 items 4, 12, 13): one story whether the
// threshold comes from flags or a policy.
func TestTrustExitCodes(t *testing.T) {
	dir := trustFixture(t)
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("onekey.yaml", "keys: [{path: a.pub}]\nthreshold: 2\n")
	for _, args := range [][]string{
		{"recall", "create", "--bundle", "foo.pkb", "--reason", "r", "--sequence", "3", "--valid-for", "3650d", "--key", "a.key", "-o", "one.json"},
		{"recall", "create", "--bundle", "foo.pkb", "--reason", "r", "--sequence", "3", "--valid-for", "3650d", "--key", "a.key", "--key", "b.key", "-o", "both.json"},
		{"recall", "create", "--bundle-digest", "sha256:" + strings.Repeat("0", 64), "--reason", "r", "--sequence", "3", "--valid-for", "3650d", "--key", "a.key", "--key", "b.key", "-o", "other.json"},
		{"recall", "create", "--bundle-digest", "sha256:" + strings.Repeat("0", 64), "--reason", "r", "--sequence", "4", "--issued", "2026-01-01T00:00:00Z", "--valid-for", "1d", "--key", "a.key", "--key", "b.key", "-o", "expired.json"},
	} {
		if code, msg := runIn(t, dir, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, msg)
		}
	}
	two := []string{"--key", "a.pub", "--key", "b.pub", "--threshold", "2"}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"verify", "foo.pkb", "--key", "a.pub", "--threshold", "2"}, exitVerify, "--threshold 2 cannot be met"},
		{[]string{"verify", "foo.pkb", "--policy", "onekey.yaml"}, exitVerify, "threshold 2 cannot be met"},
		{[]string{"verify", "foo.pkb", "--key", "a.pub", "--threshold", "0"}, exitUsage, "--threshold 0: must be at least 1"},
		{append([]string{"verify", "foo.pkb", "--recall-list", "one.json"}, two...), exitVerify, "recall_list: 1 distinct trusted signer(s), 2 needed"},
		{append([]string{"verify", "foo.pkb", "--recall-list", "both.json"}, two...), exitRecalled, "recall: recalled:"},
		{append([]string{"verify", "foo.pkb", "--recall-list", "both.json", "--recall-list", "other.json"}, two...), exitVerify, "recall list conflict"},
		{append([]string{"verify", "foo.pkb", "--recall-list", "expired.json"}, two...), exitRecalled, "recall list 4 expired at 2026-01-02T00:00:00Z"},
		{append([]string{"recall", "verify", "expired.json"}, two...), exitRecalled, "recall list 4 expired"},
	} {
		code, msg := runIn(t, dir, tc.args...)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.msg, msg)
		}
	}
}
