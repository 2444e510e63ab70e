package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/patchkit/patchkit/internal/testcorpus"
	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/channel/channeltest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestChannelScripts runs testdata/channel/*.txtar, each against its own real registry
// (distribution/distribution on 127.0.0.1, htpasswd auth): $REGISTRY is its host:port,
// PATCHKIT_REGISTRY_USERNAME/PASSWORD log in, $REGISTRY_DIR is its storage. Scripts
// that need the libssl3 corpus skip when $CORPUS is "".
func TestChannelScripts(t *testing.T) {
	bin := channeltest.Require(t)
	corpus := ""
	if d := testcorpus.Dir(); d != "" && !testing.Short() {
		if _, err := os.Stat(filepath.Join(d, "libssl3", "3.0.22-1~deb12u2")); err == nil {
			corpus = d
		}
	}
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/channel",
		Setup: func(env *testscript.Env) error {
			r, err := channeltest.StartDir(bin, filepath.Join(env.WorkDir, ".registry"))
			if err != nil {
				return err
			}
			env.Defer(func() { r.Stop() })
			env.Setenv("SOURCE_DATE_EPOCH", "")
			env.Setenv("CORPUS", corpus)
			env.Setenv("REGISTRY", r.Addr)
			env.Setenv("REGISTRY_DIR", r.Dir)
			for _, kv := range r.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "corpus" {
				return corpus != "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"regblob": cmdRegblob,
			"exits":   cmdExits,
			"pkbtag":  cmdPkbtag,
		},
	})
}

// cmdExits runs a program like exec and checks its exit status:
//
//	exits N patchkit ARGS...
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdRegblob damages, in the registry's storage, the blob holding FILE's bytes:
//
//	regblob FILE remove     the blob disappears (the registry answers 404)
//	regblob FILE truncate   the blob loses its second half
//	regblob FILE flip       one byte in the middle changes (same size, other digest)
func cmdRegblob(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: regblob FILE remove|truncate|flip")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	p := filepath.Join(ts.Getenv("REGISTRY_DIR"), "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
	if _, err := os.Stat(p); err != nil {
		ts.Fatalf("blob of %s not in the registry: %v", args[0], err)
	}
	switch args[1] {
	case "remove":
		ts.Check(os.RemoveAll(filepath.Dir(p)))
	case "truncate":
		ts.Check(os.Truncate(p, int64(len(data)/2)))
	case "flip":
		data[len(data)/2] ^= 0x01
		ts.Check(os.WriteFile(p, data, 0o644))
	default:
		ts.Fatalf("unknown damage %q", args[1])
	}
}

// cmdPkbtag sets VAR to the tag publish gives the bundle FILE: pkbtag FILE VAR
func cmdPkbtag(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pkbtag FILE VAR")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	r, err := bundle.NewReader(f)
	ts.Check(err)
	ts.Setenv(args[1], "pkb-"+strings.TrimPrefix(r.Digest(), "sha256:")[:32])
}
