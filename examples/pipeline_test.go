package examples

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// workflow is the part of a GitHub Actions workflow the test runs.
type workflow struct {
	Jobs map[string]struct {
		Env   map[string]string `yaml:"env"`
		Steps []struct {
			Name string            `yaml:"name"`
			ID   string            `yaml:"id"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			Env  map[string]string `yaml:"env"`
			If   string            `yaml:"if"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var exprRE = regexp.MustCompile(`\$\{\{\s*([a-z]+)\.([A-Za-z0-9_]+)\s*\}\}`)

// TestGitHubActions runs the shell steps of examples/github-actions/release.yml locally,
// in order, with the real patchkit: the step "install-patchkit" (go install of a
// released version) is replaced by installing this checkout's patchkit, "uses:" steps
// (checkout, setup-go, cosign-installer, upload-artifact) are GitHub's own actions and
// are not run, secrets come from a key generated here. The cosign step needs cosign on
// PATH (scripts/test.sh builds it); without it the test says so and skips that step.
// Then the verify step must fail (non-zero, ok false in the artifact) with the wrong
// public key.
func TestGitHubActions(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("github-actions/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("release.yml: %v", err)
	}
	job, ok := wf.Jobs["bundle"]
	if !ok || len(job.Steps) == 0 {
		t.Fatal("release.yml: no bundle job")
	}

	s := newSandbox(t)
	s.installPatchkit(t)
	ws := filepath.Join(s.dir, "work")
	if out, err := exec.Command("cp", "-a", "small/base", filepath.Join(ws, "trees-base")).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	prep := `mkdir -p keys trees && mv trees-base trees/base && cp -a "$SRC/small/target" trees/target
cp "$SRC/github-actions/release-policy.yaml" .
PATCHKIT_PASSWORD=ci-secret patchkit key generate --output-key-prefix release
mv release.pub keys/release.pub
PATCHKIT_PASSWORD=x patchkit key generate --output-key-prefix other`
	src, _ := filepath.Abs(".")
	if _, err := s.run(t, "workspace", ws, prep, "SRC="+src); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(ws, "release.key"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(ws, "release.key")) // the key exists only as a secret
	ctx := map[string]map[string]string{
		"secrets": {"PATCHKIT_SIGNING_KEY": string(key), "PATCHKIT_PASSWORD": "ci-secret"},
		"env":     job.Env,
	}
	subst := func(v string) string {
		return exprRE.ReplaceAllStringFunc(v, func(e string) string {
			m := exprRE.FindStringSubmatch(e)
			val, ok := ctx[m[1]][m[2]]
			if !ok {
				t.Fatalf("release.yml: expression %s is not known to this test", e)
			}
			return val
		})
	}
	env := []string{"GITHUB_WORKSPACE=" + ws, "GITHUB_PATH=" + filepath.Join(s.dir, "github_path"), "RUNNER_TEMP=" + s.dir}
	for k, v := range job.Env {
		env = append(env, k+"="+subst(v))
	}
	_, haveCosign := exec.LookPath("cosign")
	ran := map[string]bool{}
	stepEnv := map[string][]string{}
	for _, st := range job.Steps {
		name := st.Name
		if name == "" {
			name = st.Uses
		}
		switch {
		case st.Uses != "":
			t.Logf("step %q: a GitHub action, not run locally", name)
			continue
		case st.ID == "install-patchkit":
			t.Logf("step %q: replaced by this checkout's patchkit (go install ./cmd/patchkit)", name)
			continue
		case st.ID == "cosign-verify" && haveCosign != nil:
			defer t.Skipf("step %q not run: cosign is not on PATH (scripts/test.sh builds it)", name)
			continue
		}
		e := append([]string(nil), env...)
		for k, v := range st.Env {
			e = append(e, k+"="+subst(v))
		}
		stepEnv[st.ID] = e
		if _, err := s.run(t, "step "+name, ws, subst(st.Run), e...); err != nil {
			t.Fatalf("step %q failed: %v", name, err)
		}
		ran[st.ID] = true
	}
	if !ran["verify"] {
		t.Fatal("release.yml has no step with id verify")
	}
	var rep struct {
		Type string `json:"type"`
		OK   bool   `json:"ok"`
	}
	read := func() {
		b, err := os.ReadFile(filepath.Join(ws, "dist", "verify.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil || rep.Type != "patchkit.verify/v1" {
			t.Fatalf("dist/verify.json: %v\n%s", err, b)
		}
	}
	read()
	if !rep.OK {
		t.Fatal("dist/verify.json: ok false after a passing verify step")
	}
	for _, f := range []string{"create.json", "sign.json", "libdemo.pkb", "libdemo.sig.json"} {
		if _, err := os.Stat(filepath.Join(ws, "dist", f)); err != nil {
			t.Errorf("artifact %s: %v", f, err)
		}
	}

	// The wrong public key: the verify step fails, and the artifact says why.
	if err := os.Rename(filepath.Join(ws, "other.pub"), filepath.Join(ws, "keys", "release.pub")); err != nil {
		t.Fatal(err)
	}
	for _, st := range job.Steps {
		if st.ID == "verify" {
			out, err := s.run(t, "verify step, wrong key", ws, subst(st.Run), stepEnv["verify"]...)
			if err == nil {
				t.Fatal("verify step passed with an untrusted key")
			}
			if !strings.Contains(out, "verification failed: signatures") {
				t.Errorf("verify step output: %s", out)
			}
		}
	}
	read()
	if rep.OK {
		t.Fatal("dist/verify.json: ok true after a failed verification")
	}
}

// TestGitLabCI runs the script lines of examples/gitlab-ci/.gitlab-ci.yml's bundle job
// the way a GitLab runner does (one shell, set -e, the pipeline's variables, the key
// from a masked variable), with this checkout's patchkit in place of the go install of
// a release; the cosign job runs when cosign is on PATH.
func TestGitLabCI(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("gitlab-ci/.gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ci struct {
		Variables map[string]string `yaml:"variables"`
		Bundle    struct {
			Script []string `yaml:"script"`
		} `yaml:"bundle"`
		Cosign struct {
			Script []string `yaml:"script"`
		} `yaml:"cosign-verify"`
	}
	if err := yaml.Unmarshal(data, &ci); err != nil {
		t.Fatalf(".gitlab-ci.yml: %v", err)
	}
	s := newSandbox(t)
	s.installPatchkit(t)
	ws := filepath.Join(s.dir, "work")
	src, _ := filepath.Abs(".")
	prep := `mkdir -p keys trees && cp -a "$SRC/small/base" trees/base && cp -a "$SRC/small/target" trees/target
cp "$SRC/github-actions/release-policy.yaml" .
PATCHKIT_PASSWORD=ci-secret patchkit key generate --output-key-prefix release
mv release.pub keys/release.pub`
	if _, err := s.run(t, "workspace", ws, prep, "SRC="+src); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(ws, "release.key"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATCHKIT_SIGNING_KEY=" + string(key), "PATCHKIT_PASSWORD=ci-secret"}
	for k, v := range ci.Variables {
		env = append(env, k+"="+v)
	}
	script := func(lines []string) string {
		var b strings.Builder
		for _, l := range lines {
			if strings.HasPrefix(l, "go install ") {
				t.Logf("not run (this checkout's binary is on PATH): %s", l)
				continue
			}
			b.WriteString(l + "\n")
		}
		return b.String()
	}
	if _, err := s.run(t, "bundle job", ws, script(ci.Bundle.Script), env...); err != nil {
		t.Fatalf("bundle job failed: %v", err)
	}
	var rep struct {
		Type string `json:"type"`
		OK   bool   `json:"ok"`
	}
	b, _ := os.ReadFile(filepath.Join(ws, "dist", "verify.json"))
	if err := json.Unmarshal(b, &rep); err != nil || rep.Type != "patchkit.verify/v1" || !rep.OK {
		t.Fatalf("dist/verify.json: %+v %v", rep, err)
	}
	if _, err := exec.LookPath("cosign"); err != nil {
		t.Skip("cosign-verify job not run: cosign is not on PATH (scripts/test.sh builds it)")
	}
	if _, err := s.run(t, "cosign-verify job", ws, script(ci.Cosign.Script), env...); err != nil {
		t.Fatalf("cosign-verify job failed: %v", err)
	}
}
