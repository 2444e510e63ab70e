package sign_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
)

// smallBundle creates an unsigned bundle from two one-file trees.
func smallBundle(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	for tree, text := range map[string]string{"base": "old\n", "target": "new\n"} {
		if err := os.MkdirAll(filepath.Join(dir, tree), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tree, "f"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := bundle.Create(ctx, &buf, &bundle.CreateOptions{Label: "1 (a)", Sequence: 1,
		Components: []bundle.Source{{Name: "c", BaseVersion: "1", BaseDir: filepath.Join(dir, "base"), TargetDir: filepath.Join(dir, "target")}}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newTestKey(t *testing.T, name string) *sign.Key {
	t.Helper()
	priv, err := sign.GenerateKey(sign.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.NewKey(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func add(t *testing.T, data []byte, signers []sign.Signer, detached []sign.Detached) ([]byte, []sign.Added, error) {
	t.Helper()
	r, err := bundle.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	added, err := sign.Add(ctx, r, &out, signers, detached)
	return out.Bytes(), added, err
}

// TestAdd: existing signatures stay first, new ones follow with their member names, a
// detached signature is checked and kept byte for byte, and every refusal writes nothing.
func TestAdd(t *testing.T) {
	t.Parallel()
	unsigned := smallBundle(t)
	k1, k2, k3 := newTestKey(t, "k1"), newTestKey(t, "k2"), newTestKey(t, "k3")

	one, added, err := add(t, unsigned, []sign.Signer{k1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Member != bundle.SignatureMember(0) || added[0].Key != k1.Fingerprint() || added[0].Signer != "k1" {
		t.Fatalf("added %+v", added)
	}
	r, _ := bundle.NewReader(bytes.NewReader(one))
	manifest := r.ManifestBytes()
	detachedSig, err := k3.Sign(ctx, manifest)
	if err != nil {
		t.Fatal(err)
	}

	two, added, err := add(t, one, []sign.Signer{k2}, []sign.Detached{{Name: "k3.sig", Data: detachedSig}})
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 || added[0].Member != bundle.SignatureMember(1) || added[1].Member != bundle.SignatureMember(2) ||
		added[1].Signer != "attached k3.sig" || added[1].Key != "" {
		t.Fatalf("added %+v", added)
	}
	r, err = bundle.NewReader(bytes.NewReader(two))
	if err != nil {
		t.Fatal(err)
	}
	sigs := r.Signatures()
	if len(sigs) != 3 || !bytes.Equal(sigs[2].Data, detachedSig) || !bytes.Equal(r.ManifestBytes(), manifest) {
		t.Fatalf("%d signatures after adding two to one", len(sigs))
	}
	for i, k := range []*sign.Key{k1, k2, k3} {
		if !sign.VerifiesWith(sigs[i].Data, manifest, k.Public()) {
			t.Fatalf("signature %d is not by %s", i, k)
		}
	}

	otherSig, _ := k3.Sign(ctx, []byte(`{"other":"manifest"}`))
	for name, tc := range map[string]struct {
		data     []byte
		signers  []sign.Signer
		detached []sign.Detached
		want     error
	}{
		"key already signed": {one, []sign.Signer{k1}, nil, sign.ErrDuplicate},
		"key given twice":    {unsigned, []sign.Signer{k2, k2}, nil, sign.ErrDuplicate},
		"detached held":      {two, nil, []sign.Detached{{Name: "again", Data: detachedSig}}, sign.ErrAlreadyHeld},
		"detached elsewhere": {one, nil, []sign.Detached{{Name: "other", Data: otherSig}}, sign.ErrOtherContent},
		"nothing to add":     {one, nil, nil, nil},
	} {
		out, _, err := add(t, tc.data, tc.signers, tc.detached)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
		if len(out) != 0 {
			t.Errorf("%s: %d bytes written on failure", name, len(out))
		}
	}
}
