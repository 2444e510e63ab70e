package channel

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/channel/channeltest"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
)

// fixture is a registry with a channel holding one signed bundle for a small tree.
type fixture struct {
	reg    *channeltest.Registry
	ref    Ref
	key    *sign.Key
	policy *verify.Policy
	base   string // the base tree
	pkb    string // the bundle file
}

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var (
	baseFiles   = map[string]string{"usr/lib/libfoo.so.1": "libfoo 1.0-1 with the bug\n", "usr/share/doc/libfoo/README": "libfoo\n"}
	targetFiles = map[string]string{"usr/lib/libfoo.so.1": "libfoo 1.0-2 with the fix\n", "usr/share/doc/libfoo/README": "libfoo\n"}
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	reg := channeltest.Start(t)
	return newChannel(t, reg, reg.Addr+"/patchkit/libfoo:stable")
}

// newLayoutFixture is a fixture whose channel is an OCI layout directory: no registry.
func newLayoutFixture(t testing.TB) *fixture {
	t.Helper()
	return newChannel(t, nil, "oci:"+filepath.Join(t.TempDir(), "layout")+":stable")
}

func newChannel(t testing.TB, reg *channeltest.Registry, ref string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{reg: reg, base: filepath.Join(dir, "base")}
	target := filepath.Join(dir, "target")
	writeTree(t, f.base, baseFiles)
	writeTree(t, target, targetFiles)
	priv, err := sign.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	if f.key, err = sign.NewKey("channel.key", priv); err != nil {
		t.Fatal(err)
	}
	fp, _ := sign.Fingerprint(f.key.Public())
	f.policy = &verify.Policy{Keys: []verify.TrustedKey{{Name: "channel.pub", Public: f.key.Public(), Fingerprint: fp}}}
	var unsigned bytes.Buffer
	if _, err := bundle.Create(ctx, &unsigned, &bundle.CreateOptions{Label: "1.0-2 (a)", Sequence: 1, PinUnchanged: true,
		Components: []bundle.Source{{Name: "libfoo", BaseVersion: "1.0-1", TargetVersion: "1.0-2", BaseDir: f.base, TargetDir: target}}}); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.NewReader(bytes.NewReader(unsigned.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := sign.Signatures(ctx, r.ManifestBytes(), nil, []sign.Signer{f.key})
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	if err := sign.Rewrite(ctx, r, &signed, sigs); err != nil {
		t.Fatal(err)
	}
	f.pkb = filepath.Join(dir, "a.pkb")
	if err := os.WriteFile(f.pkb, signed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if f.ref, err = ParseRef(ref); err != nil {
		t.Fatal(err)
	}
	pub := &Publisher{Repo: f.open(t, nil), Signers: []sign.Signer{f.key}, Trust: f.policy}
	if _, err := pub.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.AddBundle(ctx, f.pkb); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open(t testing.TB, o *Options) *Repo {
	t.Helper()
	if o == nil {
		o = &Options{}
	}
	if f.reg != nil {
		o.PlainHTTP, o.Username, o.Password = true, f.reg.User, f.reg.Password
	}
	r, err := Open(context.Background(), f.ref, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
