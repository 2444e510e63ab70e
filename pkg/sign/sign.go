// Package sign makes the signatures of patchkit bundles.
//
// # Signature format
//
// Every signature is a Sigstore bundle (protobuf-specs JSON, media type
// application/vnd.dev.sigstore.bundle.v0.3+json) holding one message signature over the
// exact manifest bytes: the bundle's messageDigest is the SHA-256 of the manifest (the
// curve's hash for other ECDSA keys, SHA-512 for Ed25519) and the signature is made over
// that digest (ECDSA, RSA PKCS#1 v1.5) or over the manifest itself (pure Ed25519). A key-signed bundle
// carries only a key hint (which verifiers ignore); a keyless one carries the Fulcio
// certificate and the Rekor entry. Such a signature is checked without patchkit by
//
//	patchkit extract X.pkb --manifest > manifest.json
//	cosign verify-blob --key key.pub --bundle sig.json --insecure-ignore-tlog manifest.json
//
// One Sigstore bundle holds one signature, so k-of-n signing stores one signature member
// per signer (see [bundle.SignatureMember]). Adding a signature never changes the
// manifest or a payload: [Rewrite] copies them byte for byte.
package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Signer makes one signature over a manifest.
type Signer interface {
	// Sign returns a Sigstore bundle in JSON holding one message signature over
	// manifest, verified before it is returned.
	Sign(ctx context.Context, data []byte) ([]byte, error)
	// String names the signer in messages (key path, KMS URI, "keyless").
	String() string
}

var _ sgsign.Keypair = (*Key)(nil)

func (k *Key) String() string { return k.Ref }

// Sign signs manifest with k. The result is checked with sigstore-go's verifier
// and k's public key before it is returned.
func (k *Key) Sign(ctx context.Context, manifest []byte) ([]byte, error) {
	v, err := Verifier(k.Public())
	if err != nil {
		return nil, err
	}
	trusted := sgroot.NewTrustedPublicKeyMaterial(func(string) (sgroot.TimeConstrainedVerifier, error) {
		return sgroot.NewExpiringKey(v, timeZero, timeZero), nil
	})
	pb, err := sgsign.Bundle(&sgsign.PlainData{Data: manifest}, k, sgsign.BundleOptions{
		Context:     ctx,
		TrustedRoot: trusted,
	})
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", k.Ref, err)
	}
	return marshalBundle(pb)
}

var timeZero time.Time

// marshalBundle encodes a Sigstore bundle as compact JSON. protojson varies its white
// space on purpose; compacting it makes the output depend on the content only.
func marshalBundle(pb proto.Message) ([]byte, error) {
	b, err := protojson.Marshal(pb)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// VerifiesWith reports whether sig (a Sigstore bundle in JSON) is a valid key-based
// message signature over manifest by pub.
func VerifiesWith(sig, manifest []byte, pub crypto.PublicKey) bool {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(sig); err != nil {
		return false
	}
	vc, err := b.VerificationContent()
	if err != nil || vc.PublicKey() == nil {
		return false
	}
	return VerifyWithKey(&b, NewArtifact(manifest), pub) == nil
}

// VerifyWithKey checks that the key-signed Sigstore bundle b is a message signature over
// a's data by pub, with sigstore-go's verifier and each of [Verifiers](pub). The
// bundle's message digest is compared with the data's first ([ErrOtherContent]); keys
// other than Ed25519 then check the signature over that digest, computed once.
func VerifyWithKey(b *sgbundle.Bundle, a *Artifact, pub crypto.PublicKey) error {
	sc, err := b.SignatureContent()
	if err != nil {
		return err
	}
	ms := sc.MessageSignatureContent()
	if ms == nil {
		return errors.New("not a message signature")
	}
	if err := a.checkDigest(ms.DigestAlgorithm(), ms.Digest()); err != nil {
		return err
	}
	_, pureData := pub.(ed25519.PublicKey)
	vs, err := Verifiers(pub)
	if err != nil {
		return err
	}
	for _, v := range vs {
		trusted := sgroot.NewTrustedPublicKeyMaterial(func(string) (sgroot.TimeConstrainedVerifier, error) {
			return sgroot.NewExpiringKey(v, timeZero, timeZero), nil
		})
		var sv *sgverify.Verifier
		sv, err = sgverify.NewVerifier(trusted, sgverify.WithNoObserverTimestamps())
		if err != nil {
			return err
		}
		artifact := sgverify.WithArtifactDigest(digestNames[ms.DigestAlgorithm()], ms.Digest())
		if pureData {
			artifact = sgverify.WithArtifact(bytes.NewReader(a.Data))
		}
		if _, err = sv.Verify(b, sgverify.NewPolicy(artifact, sgverify.WithKey())); err == nil {
			return nil
		}
	}
	return err
}

// ErrDuplicate reports a signer whose signature the bundle already carries.
var ErrDuplicate = errors.New("the bundle is already signed by this key")

// Signatures signs manifest with every signer and returns the new signature members.
// existing are the signatures already in the bundle: a key that made one of them, or that
// appears twice in signers, is refused with [ErrDuplicate].
func Signatures(ctx context.Context, manifest []byte, existing []bundle.Signature, signers []Signer) ([][]byte, error) {
	seen := map[string]string{}
	var out [][]byte
	for _, s := range signers {
		if k, ok := s.(*Key); ok {
			fp := k.Fingerprint()
			if prev, dup := seen[fp]; dup {
				return nil, fmt.Errorf("%s and %s: %w", prev, k.Ref, ErrDuplicate)
			}
			seen[fp] = k.Ref
			for _, e := range existing {
				if VerifiesWith(e.Data, manifest, k.Public()) {
					return nil, fmt.Errorf("%s (%s, in %s): %w", k.Ref, fp, e.Member, ErrDuplicate)
				}
			}
		}
		sig, err := s.Sign(ctx, manifest)
		if err != nil {
			return nil, err
		}
		out = append(out, sig)
	}
	return out, nil
}

// Rewrite copies the bundle read by r to w with the signatures sigs (the existing ones
// followed by new ones). The manifest and every payload are copied byte for byte and
// checked against their digests on the way.
func Rewrite(ctx context.Context, r *bundle.Reader, w io.Writer, sigs [][]byte) error {
	bw, err := bundle.NewWriter(w, r.ManifestBytes(), sigs)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := bw.WritePayload(e); err != nil {
			return err
		}
	}
	return bw.Close()
}
