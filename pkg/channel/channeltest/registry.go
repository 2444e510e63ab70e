// Package channeltest starts a real OCI registry (distribution/distribution's
// "registry" binary) on 127.0.0.1 for the tests and benchmarks of pkg/channel and the
// CLI: a random free port, htpasswd authentication on, storage in a temporary
// directory, stopped when the test ends.
package channeltest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a running registry.
type Registry struct {
	Addr     string // host:port on 127.0.0.1
	User     string
	Password string
	Dir      string // storage root
	cmd      *exec.Cmd
	log      *bytes.Buffer
}

// Binary returns the path of the registry binary: $PATCHKIT_REGISTRY_BIN, "registry" on
// $PATH, or $GOPATH/bin/registry; "" when there is none.
func Binary() string {
	if p := os.Getenv("PATCHKIT_REGISTRY_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("registry"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		for _, p := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(home, "go", "bin")} {
			if p == "" {
				continue
			}
			if fi, err := os.Stat(filepath.Join(p, "registry")); err == nil && !fi.IsDir() {
				return filepath.Join(p, "registry")
			}
		}
	}
	return ""
}

// SkipReason is the loud message of a test that cannot run without the binary.
const SkipReason = "NO REGISTRY BINARY: the channel tests need a real OCI registry; install it with " +
	"'go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2' (.ci/run does) or set PATCHKIT_REGISTRY_BIN"

// Require skips tb (or, with PATCHKIT_REQUIRE_REGISTRY=1 as .ci/run sets it, fails it)
// when there is no registry binary, and returns the binary.
func Require(tb testing.TB) string {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("PATCHKIT_REQUIRE_REGISTRY") == "1" {
			tb.Fatal(SkipReason)
		}
		tb.Skip(SkipReason)
	}
	return bin
}

// Start starts a registry for tb and stops it at cleanup; see [Require] for a missing
// binary.
func Start(tb testing.TB) *Registry {
	tb.Helper()
	bin := Require(tb)
	r, err := StartDir(bin, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := r.Stop(); err != nil {
			tb.Logf("stopping the registry: %v", err)
		}
	})
	return r
}

// StartDir starts the registry binary bin with its files in dir; the caller stops it.
func StartDir(bin, dir string) (*Registry, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	pw := make([]byte, 12)
	rand.Read(pw)
	r := &Registry{User: "patchkit", Password: hex.EncodeToString(pw), Dir: filepath.Join(dir, "data"), log: &bytes.Buffer{}}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		r.Addr = l.Addr().String()
		l.Close()
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: patchkit
    path: %s
`, r.Dir, r.Addr, filepath.Join(dir, "htpasswd"))
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		r.log.Reset()
		r.cmd = exec.Command(bin, "serve", cfgPath)
		r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
		r.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
		if err := r.cmd.Start(); err != nil {
			return nil, err
		}
		if r.ready(10 * time.Second) {
			return r, nil
		}
		r.Stop()
	}
	return nil, fmt.Errorf("registry did not start on 127.0.0.1:\n%s", r.log)
}

// ready waits until the registry answers /v2/ (401 without credentials).
func (r *Registry) ready(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if r.cmd.ProcessState != nil {
			return false
		}
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode == http.StatusUnauthorized
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Pid returns the registry's process id (for CPU accounting in benchmarks).
func (r *Registry) Pid() int { return r.cmd.Process.Pid }

// Stop kills the registry and waits for it.
func (r *Registry) Stop() error {
	if r.cmd == nil || r.cmd.Process == nil || r.cmd.ProcessState != nil {
		return nil
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	return nil
}

// Env returns the environment that lets patchkit log in to the registry.
func (r *Registry) Env() []string {
	return []string{"PATCHKIT_REGISTRY_USERNAME=" + r.User, "PATCHKIT_REGISTRY_PASSWORD=" + r.Password}
}
