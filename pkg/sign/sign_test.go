package sign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/patchkit/patchkit/pkg/sign"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/fake"
)

var ctx = context.Background()

var manifest = []byte(`{"components":[{"base_version":"1.0","name":"foo"}],"files":[],"format":"patchkit.bundle/v1","id":"foo-1","label":"x","sequence":1}`)

// sigstoreGoVerify checks sig over data with sigstore-go's verifier and a verifier made
// by sigstore's own loader from pub, without any patchkit code.
func sigstoreGoVerify(t *testing.T, sig, data []byte, pub crypto.PublicKey) error {
	t.Helper()
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(sig); err != nil {
		return err
	}
	// Loaded the way "cosign verify-blob --key" loads a public key.
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	tm := sgroot.NewTrustedPublicKeyMaterial(func(string) (sgroot.TimeConstrainedVerifier, error) {
		return sgroot.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	sv, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	_, err = sv.Verify(&b, sgverify.NewPolicy(sgverify.WithArtifact(bytes.NewReader(data)), sgverify.WithKey()))
	return err
}

// TestSigstoreGoVerifies checks our signatures with sigstore-go, independently of
// package verify, for every key algorithm patchkit generates.
func TestSigstoreGoVerifies(t *testing.T) {
	t.Parallel()
	for _, alg := range sign.Algorithms {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			priv, err := sign.GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := sign.NewKey(alg, priv)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := k.Sign(ctx, manifest)
			if err != nil {
				t.Fatal(err)
			}
			if err := sigstoreGoVerify(t, sig, manifest, priv.Public()); err != nil {
				t.Fatalf("sigstore-go refuses our signature: %v", err)
			}
			changed := bytes.Replace(manifest, []byte(`"x"`), []byte(`"y"`), 1)
			if err := sigstoreGoVerify(t, sig, changed, priv.Public()); err == nil {
				t.Fatal("sigstore-go accepts the signature over a changed manifest")
			}
			other, _ := sign.GenerateKey(alg)
			if err := sigstoreGoVerify(t, sig, manifest, other.Public()); err == nil {
				t.Fatal("sigstore-go accepts the signature with another key")
			}
		})
	}
}

func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "release")
	pw := func(bool) ([]byte, error) { return []byte("secret"), nil }
	fp, err := sign.WriteKeyPair(prefix, sign.ECDSAP256, pw)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(prefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if _, err := sign.WriteKeyPair(prefix, sign.ECDSAP256, pw); err == nil {
		t.Fatal("overwrote an existing key")
	}
	k, err := sign.LoadKey(ctx, prefix+".key", pw)
	if err != nil {
		t.Fatal(err)
	}
	if k.Fingerprint() != fp {
		t.Fatalf("fingerprint %s, want %s", k.Fingerprint(), fp)
	}
	pubPEM, _ := os.ReadFile(prefix + ".pub")
	pub, err := sign.ParsePublicKey(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := sign.Fingerprint(pub); got != fp {
		t.Fatal("public key file does not match")
	}
	if _, err := sign.LoadKey(ctx, prefix+".key", func(bool) ([]byte, error) { return []byte("wrong"), nil }); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := sign.WriteKeyPair(filepath.Join(dir, "x"), "dsa", pw); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

// TestCosignKeyFormats reads the key formats cosign writes: its encrypted PEM (made here
// with the same sigstore function cosign uses) and plain PKCS#8.
func TestCosignKeyFormats(t *testing.T) {
	t.Parallel()
	pw := []byte("pw")
	privPEM, _, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc(pw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sign.ParsePrivateKey(privPEM, func(bool) ([]byte, error) { return pw, nil }); err != nil {
		t.Fatalf("cosign-format key: %v", err)
	}
	_, edPriv, _ := ed25519.GenerateKey(nil)
	plain, err := cryptoutils.MarshalPrivateKeyToPEM(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sign.ParsePrivateKey(plain, nil)
	if err != nil {
		t.Fatalf("plain PKCS#8 ed25519: %v", err)
	}
	if _, err := sign.NewKey("ed", s); err != nil {
		t.Fatal(err)
	}
}

// TestKMS signs through sigstore's KMS provider registry with its in-process fake
// provider (fakekms://): the same path as awskms:// or a sigstore-kms-* plugin.
func TestKMS(t *testing.T) {
	t.Parallel()
	if !sign.IsKMS(fake.ReferenceScheme + "key") {
		t.Fatal("fakekms:// not recognised as a KMS reference")
	}
	k, err := sign.LoadKey(ctx, fake.ReferenceScheme+"release", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.Public().(*ecdsa.PublicKey); !ok {
		t.Fatalf("fake KMS key is %T", k.Public())
	}
	sig, err := k.Sign(ctx, manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := sigstoreGoVerify(t, sig, manifest, k.Public()); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.LoadKey(ctx, "nosuchkms://key", nil); err == nil {
		t.Fatal("unknown KMS scheme accepted")
	}
}

func TestVerifiesWith(t *testing.T) {
	t.Parallel()
	priv, _ := sign.GenerateKey(sign.ECDSAP256)
	k, _ := sign.NewKey("k", priv)
	sig, err := k.Sign(ctx, manifest)
	if err != nil {
		t.Fatal(err)
	}
	if !sign.VerifiesWith(sig, manifest, priv.Public()) {
		t.Fatal("own signature not recognised")
	}
	other, _ := sign.GenerateKey(sign.ECDSAP256)
	if sign.VerifiesWith(sig, manifest, other.Public()) || sign.VerifiesWith([]byte("{}"), manifest, priv.Public()) {
		t.Fatal("foreign or broken signature recognised")
	}
}

// TestEd25519Reproducible: Ed25519 signatures are deterministic and the bundle JSON is
// compact, so signing the same manifest with the same key gives the same bytes.
func TestEd25519Reproducible(t *testing.T) {
	t.Parallel()
	priv, _ := sign.GenerateKey(sign.Ed25519)
	k, _ := sign.NewKey("ed", priv)
	a, err := k.Sign(ctx, manifest)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Sign(ctx, manifest)
	if !bytes.Equal(a, b) {
		t.Fatalf("two signatures differ:\n%s\n%s", a, b)
	}
}

// TestKeyFromEnv: env://NAME reads a PEM private key from the environment, as CI
// secrets arrive; an unset variable and a cloud KMS scheme without a provider are
// clear errors.
func TestKeyFromEnv(t *testing.T) {
	priv, _ := sign.GenerateKey(sign.ECDSAP256)
	pw := []byte("secret")
	privPEM, _, err := sign.MarshalKeyPair(priv, pw)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATCHKIT_TEST_KEY", string(privPEM))
	k, err := sign.LoadKey(ctx, "env://PATCHKIT_TEST_KEY", func(bool) ([]byte, error) { return pw, nil })
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := sign.Fingerprint(priv.Public()); k.Fingerprint() != want {
		t.Fatal("env key is another key")
	}
	if sign.IsKMS("env://X") {
		t.Fatal("env:// taken for a KMS URI")
	}
	if _, err := sign.LoadKey(ctx, "env://PATCHKIT_TEST_UNSET", nil); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("unset variable: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := sign.LoadKey(ctx, "awskms:///alias/release", nil); !errors.Is(err, sign.ErrNoKMSProvider) {
		t.Fatalf("awskms without provider: %v", err)
	}
}
