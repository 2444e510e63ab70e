package verify_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/patchkit/patchkit/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

var ctx = context.Background()

func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixture is a base tree and a bundle made from it.
type fixture struct {
	base string
	data []byte
}

// newFixture makes a bundle patching lib/a.txt (and adding lib/new.txt) with the given
// target content and options.
func newFixture(t testing.TB, content string, mod func(*bundle.CreateOptions)) fixture {
	t.Helper()
	dir := t.TempDir()
	base, target := filepath.Join(dir, "base"), filepath.Join(dir, "target")
	writeTree(t, base, map[string]string{"lib/a.txt": "old content of a\n", "lib/keep.txt": "same\n"})
	writeTree(t, target, map[string]string{"lib/a.txt": content, "lib/keep.txt": "same\n", "lib/new.txt": "added " + content})
	opts := &bundle.CreateOptions{
		Label: "1.1 (a)", Sequence: 3, Created: 1_700_000_000,
		Components: []bundle.Source{{Name: "foo", BaseVersion: "1.0", BaseDir: base, TargetDir: target}},
	}
	if mod != nil {
		mod(opts)
	}
	var buf bytes.Buffer
	if _, err := bundle.Create(ctx, &buf, opts); err != nil {
		t.Fatal(err)
	}
	return fixture{base: base, data: buf.Bytes()}
}

func newKey(t testing.TB, name string) (*sign.Key, verify.TrustedKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair(t, name, priv)
}

func keyPair(t testing.TB, name string, priv crypto.Signer) (*sign.Key, verify.TrustedKey) {
	t.Helper()
	k, err := sign.NewKey(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := verify.NewTrustedKey(name+".pub", pubPEM(t, k))
	if err != nil {
		t.Fatal(err)
	}
	return k, tk
}

func reader(t testing.TB, data []byte) *bundle.Reader {
	t.Helper()
	r, err := bundle.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withSigs rewrites data with exactly the signature members sigs.
func withSigs(t testing.TB, data []byte, sigs [][]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := sign.Rewrite(ctx, reader(t, data), &out, sigs); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// signWith adds one signature per key through the public signing path.
func signWith(t testing.TB, data []byte, keys ...*sign.Key) []byte {
	t.Helper()
	r := reader(t, data)
	var signers []sign.Signer
	for _, k := range keys {
		signers = append(signers, k)
	}
	sigs, err := sign.Signatures(ctx, r.ManifestBytes(), r.Signatures(), signers)
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	for _, s := range r.Signatures() {
		all = append(all, s.Data)
	}
	var out bytes.Buffer
	if err := sign.Rewrite(ctx, r, &out, append(all, sigs...)); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func sigsOf(t testing.TB, data []byte) [][]byte {
	var out [][]byte
	for _, s := range reader(t, data).Signatures() {
		out = append(out, s.Data)
	}
	return out
}

func pubPEM(t testing.TB, k *sign.Key) []byte {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var at = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
