// Package examples holds no code: its tests run what README.md and the pipeline
// examples print, with the real patchkit binary, so that they stay true.
package examples

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// block is one fenced ```sh block of README.md.
type block struct {
	line int
	mode string // "" (run in the scratch directory), "clone" (run in the clone), "skip (why)"
	text string
}

var markRE = regexp.MustCompile(`^<!-- readme-test: (.+) -->$`)

func readmeBlocks(t *testing.T) []block {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out  []block
		cur  *block
		mark string
		n    int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case line == "```sh":
			cur = &block{line: n, mode: mark}
			mark = ""
		case markRE.MatchString(line):
			mark = markRE.FindStringSubmatch(line)[1]
		case strings.TrimSpace(line) != "":
			mark = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// goEnv keeps the Go caches of the calling environment when HOME moves.
func goEnv(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2]}
}

// sandbox is a scratch HOME and bin directory on PATH.
type sandbox struct {
	dir, bin string
	env      []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	s := &sandbox{dir: dir, bin: filepath.Join(dir, "bin")}
	for _, d := range []string{s.bin, filepath.Join(dir, "home"), filepath.Join(dir, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "GOBIN", "PATCHKIT_PASSWORD", "SOURCE_DATE_EPOCH", "GOCACHE", "GOMODCACHE", "GOPATH":
			continue
		}
		s.env = append(s.env, kv)
	}
	s.env = append(s.env, goEnv(t)...)
	s.env = append(s.env, "PATH="+s.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+filepath.Join(dir, "home"), "GOBIN="+s.bin)
	return s
}

// run runs script with bash -e -o pipefail (as GitHub Actions does) in dir.
func (s *sandbox) run(t *testing.T, what, dir, script string, extraEnv ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), s.env...), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s:\n%s", what, out.String())
	return out.String(), err
}

// installPatchkit puts the patchkit of this checkout in s.bin, the way README says.
func (s *sandbox) installPatchkit(t *testing.T) {
	t.Helper()
	if _, err := s.run(t, "go install ./cmd/patchkit", "..", "go install ./cmd/patchkit"); err != nil {
		t.Fatal(err)
	}
}

// TestREADME runs every ```sh block of README.md as printed: blocks marked
// "readme-test: clone" in the clone, the others in order in one empty directory with
// the installed patchkit on PATH and a scratch HOME. Blocks marked "readme-test: skip
// (why)" are the long jobs CI runs itself; their scripts must exist and be executable.
func TestREADME(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	var work strings.Builder
	installed := false
	for _, b := range readmeBlocks(t) {
		switch {
		case b.mode == "clone":
			if _, err := s.run(t, "README.md:"+strconv.Itoa(b.line)+" (in the clone)", "..", b.text); err != nil {
				t.Fatalf("README.md:%d: %v", b.line, err)
			}
			installed = installed || strings.Contains(b.text, "go install ./cmd/patchkit")
		case strings.HasPrefix(b.mode, "skip"):
			t.Logf("README.md:%d not run here: %s", b.line, strings.TrimPrefix(b.mode, "skip "))
			for _, f := range strings.Fields(b.text) {
				if strings.HasPrefix(f, "./") || strings.HasPrefix(f, "scripts/") || strings.HasPrefix(f, "bench/") {
					if fi, err := os.Stat(filepath.Join("..", f)); err != nil || fi.Mode()&0o111 == 0 {
						t.Errorf("README.md:%d names %s, which is not an executable file", b.line, f)
					}
				}
			}
		case b.mode == "":
			work.WriteString("# README.md:" + strconv.Itoa(b.line) + "\n" + b.text)
		default:
			t.Fatalf("README.md:%d: unknown readme-test mark %q", b.line, b.mode)
		}
	}
	if !installed {
		t.Fatal("README.md has no clone block that installs patchkit")
	}
	if _, err := s.run(t, "README.md walk-through", filepath.Join(s.dir, "work"), work.String()); err != nil {
		t.Fatalf("README.md walk-through failed: %v", err)
	}
	// The policy README writes is the one shipped in examples/.
	got, _ := os.ReadFile(filepath.Join(s.dir, "work", "policy.yaml"))
	want, _ := os.ReadFile("policy.yaml")
	if !bytes.Equal(got, want) {
		t.Errorf("README's policy.yaml differs from examples/policy.yaml:\n%s\n---\n%s", got, want)
	}
	var rep struct {
		Type string `json:"type"`
		OK   bool   `json:"ok"`
	}
	data, _ := os.ReadFile(filepath.Join(s.dir, "work", "verify.json"))
	if err := json.Unmarshal(data, &rep); err != nil || rep.Type != "patchkit.verify/v1" || !rep.OK {
		t.Errorf("README's verify.json: %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "home", ".local/share/man/man1/patchkit-verify.1")); err != nil {
		t.Errorf("README's man page command: %v", err)
	}
}
