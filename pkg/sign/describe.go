package sign

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
)

// Description says who claims to have made a signature. Nothing in it is verified: it
// is for listing (inspect); package verify decides whom to trust.
type Description struct {
	Kind     string `json:"kind"`                // "key" or "keyless"
	Key      string `json:"key,omitempty"`       // fingerprint from the key hint (key)
	Identity string `json:"identity,omitempty"`  // certificate subject (keyless)
	Issuer   string `json:"issuer,omitempty"`    // OIDC issuer (keyless)
	SignedAt string `json:"signed_at,omitempty"` // transparency log time (keyless), RFC 3339
}

// Describe reads a signature member (a Sigstore bundle in JSON) without verifying it.
func Describe(sig []byte) (*Description, error) {
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(sig); err != nil {
		return nil, err
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, err
	}
	if pk := vc.PublicKey(); pk != nil {
		d := &Description{Kind: "key"}
		if raw, err := base64.StdEncoding.DecodeString(pk.Hint()); err == nil && len(raw) == 32 {
			d.Key = "sha256:" + hex.EncodeToString(raw)
		}
		return d, nil
	}
	cert := vc.Certificate()
	if cert == nil {
		return nil, errors.New("no public key or certificate")
	}
	d := &Description{Kind: "keyless"}
	if s, err := certificate.SummarizeCertificate(cert); err == nil {
		d.Identity, d.Issuer = s.SubjectAlternativeName, s.Extensions.Issuer
	}
	if entries, err := b.TlogEntries(); err == nil && len(entries) > 0 {
		d.SignedAt = entries[0].IntegratedTime().UTC().Format(time.RFC3339)
	}
	return d, nil
}

// maxSignatureSize is the format's limit on one signature member.
const maxSignatureSize = 256 << 10

// CheckDetached checks that sig, a signature made elsewhere (cosign sign-blob, an HSM
// workflow), is a Sigstore message signature whose digest is that of manifest, so that
// it can be attached to the bundle. Whether its signer is trusted is for verify to say.
func CheckDetached(sig, manifest []byte) error {
	if len(sig) == 0 || len(sig) > maxSignatureSize {
		return fmt.Errorf("signature is %d bytes (limit %d)", len(sig), maxSignatureSize)
	}
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(sig); err != nil {
		return fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return err
	}
	ms := sc.MessageSignatureContent()
	if ms == nil {
		return errors.New("not a message signature (DSSE envelopes are not bundle signatures)")
	}
	return NewArtifact(manifest).checkDigest(ms.DigestAlgorithm(), ms.Digest())
}
