package main

// TestThreatVectors runs the threat-model test vectors, testdata/vectors/*.pkb at the
// top of the repository, through the real CLI: each command runs as a patchkit process
// (the test binary, which TestMain installs as patchkit on $PATH), so the exit code is
// the one main gives. internal/vectorgen generates the vectors and documents the .want
// format; go generate ./internal/vectorgen regenerates them.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchkit/patchkit/internal/vectorgen"
)

const vectorDir = "../../testdata/vectors"

// vectorWant is a parsed .want file.
type vectorWant struct {
	policy    string   // path of the policy; "" for none
	flags     []string // extra arguments of every command
	interrupt bool
	runs      []vectorRun
}

type vectorRun struct {
	command string
	exit    int
	substr  string
}

func parseWant(t *testing.T, path string) *vectorWant {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &vectorWant{policy: filepath.Join(vectorDir, "policy.yaml")}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		verb, rest, _ := strings.Cut(line, " ")
		switch verb {
		case "policy":
			w.policy = filepath.Join(vectorDir, rest)
			if rest == "none" {
				w.policy = ""
			}
		case "flags":
			w.flags = strings.Fields(rest)
		case "interrupt":
			w.interrupt = true
		case "inspect", "verify", "extract", "apply":
			code, substr, _ := strings.Cut(rest, " ")
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Fatalf("%s: bad line %q", path, line)
			}
			w.runs = append(w.runs, vectorRun{verb, n, substr})
		default:
			t.Fatalf("%s: unknown directive in %q", path, line)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestThreatVectors(t *testing.T) {
	t.Parallel()
	patchkit, err := exec.LookPath("patchkit")
	if err != nil {
		t.Fatalf("patchkit is not on $PATH (TestMain installs it): %v", err)
	}
	base, target, _, err := vectorgen.Trees(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	baseSum, targetSum := treeSum(t, base), treeSum(t, target)
	wants, err := filepath.Glob(filepath.Join(vectorDir, "*.want"))
	if err != nil || len(wants) == 0 {
		t.Fatalf("no vectors in %s: %v", vectorDir, err)
	}
	sort.Strings(wants)
	for _, wf := range wants {
		name := strings.TrimSuffix(filepath.Base(wf), ".want")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pkb := strings.TrimSuffix(wf, ".want") + ".pkb"
			w := parseWant(t, wf)
			for _, run := range w.runs {
				out := filepath.Join(t.TempDir(), "out")
				args := []string{run.command, pkb}
				var trust []string
				if w.policy != "" {
					trust = []string{"--policy", w.policy}
				}
				switch run.command {
				case "verify":
					args = append(append(args, trust...), "--at", vectorgen.At, "--base", base)
				case "extract":
					args = append(append(args, trust...), "--at", vectorgen.At, "--base", base, "-o", out)
				case "apply":
					copyTree(t, base, out)
					args = append(append(args, trust...), "--at", vectorgen.At, "--root", out)
				}
				args = append(args, w.flags...)
				var code int
				var stderr string
				if w.interrupt {
					code, stderr = runInterrupted(t, patchkit, pkb, args)
				} else {
					code, stderr = runPatchkit(t, patchkit, args)
				}
				if code != run.exit {
					t.Errorf("%s: exit %d, want %d\n%s", run.command, code, run.exit, stderr)
					continue
				}
				if !strings.Contains(stderr, run.substr) {
					t.Errorf("%s: stderr %q does not contain %q", run.command, stderr, run.substr)
				}
				if run.command == "extract" && run.exit != 0 {
					if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("extract failed but left %s", out)
					}
				}
				if run.command == "apply" {
					got, want := treeSum(t, out), baseSum
					if run.exit == 0 {
						want = targetSum
					}
					if got != want {
						t.Errorf("apply (exit %d) left a tree that is neither untouched nor the target:\n%s", code, got)
					}
				}
			}
		})
	}
}

// runPatchkit runs patchkit with args and returns its exit code and stderr.
func runPatchkit(t *testing.T, patchkit string, args []string) (int, string) {
	cmd := exec.Command(patchkit, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return exitStatus(t, cmd.Run()), stderr.String()
}

func exitStatus(t *testing.T, err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	t.Fatalf("patchkit did not exit normally: %v", err)
	return -1
}

// runInterrupted runs patchkit with args, the bundle argument replaced by a named pipe.
// Once patchkit has opened the pipe (so it is running and handles signals), it gets
// SIGINT; then it is fed the bundle's bytes and the pipe is closed.
func runInterrupted(t *testing.T, patchkit, pkb string, args []string) (int, string) {
	data, err := os.ReadFile(pkb)
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "bundle.pkb")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{}, args...)
	args[1] = fifo
	cmd := exec.Command(patchkit, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Opening the write end without blocking fails until patchkit opens the read end.
	var pipe *os.File
	for deadline := time.Now().Add(30 * time.Second); pipe == nil; {
		pipe, err = os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("patchkit exited (%v) before opening the bundle:\n%s", err, stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("patchkit did not open the bundle in 30 s")
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Give the signal time to cancel the command's context before the read it is
	// blocked in returns.
	time.Sleep(250 * time.Millisecond)
	pipe.Write(data)
	pipe.Close()
	return exitStatus(t, <-done), stderr.String()
}

// treeSum describes a tree (outside .patchkit) as sorted lines of path, type, mode and
// content digest, so two trees compare equal exactly when they match bit for bit.
func treeSum(t *testing.T, root string) string {
	var lines []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == ".patchkit" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, info.Mode())
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// copyTree copies the regular files, directories and symlinks of src to a new dst.
func copyTree(t *testing.T, src, dst string) {
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
