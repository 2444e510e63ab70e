package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchkit/patchkit/pkg/bundle"
	"github.com/patchkit/patchkit/pkg/sign"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
)

// Signer is one signature member as verify judged it.
type Signer struct {
	Member      string `json:"member"`
	Kind        string `json:"kind"`                // "key" or "keyless"; "" when the member could not be read
	Key         string `json:"key,omitempty"`       // fingerprint of the trusted key that verified it; when not trusted, of the key the signature names
	KeyName     string `json:"key_name,omitempty"`  // its name in the policy (file name)
	Identity    string `json:"identity,omitempty"`  // certificate subject (keyless)
	Issuer      string `json:"issuer,omitempty"`    // OIDC issuer (keyless)
	SignedAt    string `json:"signed_at,omitempty"` // RFC 3339, from the transparency log or a timestamp authority
	Trusted     bool   `json:"trusted"`             // verified by a trusted key or identity
	Duplicate   bool   `json:"duplicate,omitempty"` // same signer as an earlier member: counts once
	Error       string `json:"error,omitempty"`     // why it does not count
	signerIDKey string
}

// Name returns the signer's key fingerprint or certificate identity.
func (s *Signer) Name() string {
	switch {
	case s.Key != "":
		return s.Key
	case s.Identity != "":
		return s.Identity + " (" + s.Issuer + ")"
	}
	return "unknown signer"
}

// maxSignatureMembers bounds the work done on signatures from outside a bundle (recall
// lists); bundle.Reader enforces the same limit on bundles.
const maxSignatureMembers = 32

// checkSignatures judges every signature over data and returns the signers and the
// number of distinct trusted ones. A member that is not a Sigstore message signature is
// an error: a damaged or forged signature slot is not silently skipped.
func checkSignatures(data []byte, sigs []bundle.Signature, p *Policy) ([]Signer, int, error) {
	if len(sigs) > maxSignatureMembers {
		return nil, 0, fmt.Errorf("%d signatures, more than the limit of %d", len(sigs), maxSignatureMembers)
	}
	signers := make([]Signer, 0, len(sigs))
	seen := map[string]bool{}
	a := sign.NewArtifact(data)
	var firstErr error
	for _, s := range sigs {
		sg := checkOne(a, s, p)
		if sg.Kind == "" && firstErr == nil {
			firstErr = fmt.Errorf("%s: %s", s.Member, sg.Error)
		}
		if sg.Trusted {
			if seen[sg.signerIDKey] {
				sg.Duplicate = true
			}
			seen[sg.signerIDKey] = true
		}
		signers = append(signers, sg)
	}
	return signers, len(seen), firstErr
}

func checkOne(a *sign.Artifact, s bundle.Signature, p *Policy) Signer {
	sg := Signer{Member: s.Member}
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(s.Data); err != nil {
		sg.Error = "not a valid Sigstore bundle: " + err.Error()
		return sg
	}
	sc, err := b.SignatureContent()
	if err != nil || sc.MessageSignatureContent() == nil {
		sg.Error = "not a Sigstore message signature over the manifest"
		return sg
	}
	vc, err := b.VerificationContent()
	if err != nil {
		sg.Error = "no verification material: " + err.Error()
		return sg
	}
	switch {
	case vc.PublicKey() != nil:
		sg.Kind = "key"
	case vc.Certificate() != nil:
		sg.Kind = "keyless"
	default:
		sg.Error = "no public key or certificate in the signature"
		return sg
	}
	ms := sc.MessageSignatureContent()
	if d, err := a.Digest(ms.DigestAlgorithm()); err != nil || !bytes.Equal(d, ms.Digest()) {
		sg.Error = "signed content is not this manifest (a signature of another bundle, or the manifest changed)"
		if err != nil {
			sg.Error = err.Error()
		}
		return sg
	}
	if sg.Kind == "key" {
		checkKeySigned(&sg, &b, vc.PublicKey().Hint(), a, p)
	} else {
		checkKeyless(&sg, &b, a.Data, p)
	}
	return sg
}

// checkKeySigned tries the policy's keys, the one the (untrusted) hint names first.
func checkKeySigned(sg *Signer, b *sgbundle.Bundle, hint string, a *sign.Artifact, p *Policy) {
	order := make([]int, 0, len(p.Keys))
	for i, k := range p.Keys {
		if hintOf(k) == hint {
			order = append([]int{i}, order...)
		} else {
			order = append(order, i)
		}
	}
	for _, i := range order {
		k := p.Keys[i]
		if err := sign.VerifyWithKey(b, a, k.Public); err == nil {
			sg.Trusted, sg.Key, sg.KeyName, sg.signerIDKey = true, k.Fingerprint, k.Name, "key:"+k.Fingerprint
			return
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(hint); err == nil && len(raw) == sha256.Size {
		sg.Key = "sha256:" + hex.EncodeToString(raw) // the key the signature names: shown, not trusted
	}
	if len(p.Keys) == 0 {
		sg.Error = "key-signed, and the policy trusts no key"
	} else {
		sg.Error = "not a valid signature of this manifest by any trusted key"
	}
}

func hintOf(k TrustedKey) string {
	// sign.Fingerprint is "sha256:<hex>"; the hint is base64 of the same digest.
	raw, err := hex.DecodeString(strings.TrimPrefix(k.Fingerprint, "sha256:"))
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// checkKeyless verifies a certificate-based signature: chain to the trusted root's
// Fulcio CA at the time the log or a timestamp authority observed it, the log entry, the
// certificate transparency proof, and an identity the policy trusts.
func checkKeyless(sg *Signer, b *sgbundle.Bundle, data []byte, p *Policy) {
	if p.TrustedRoot == nil || len(p.Identities) == 0 {
		sg.Error = "keyless signature, and the policy trusts no identity"
		return
	}
	opts := []sgverify.VerifierOption{sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1)}
	if !p.InsecureIgnoreSCT {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	sv, err := sgverify.NewVerifier(p.TrustedRoot, opts...)
	if err != nil {
		sg.Error = err.Error()
		return
	}
	var ids []sgverify.PolicyOption
	for _, id := range p.Identities {
		ci, err := sgverify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegexp, id.Subject, id.SubjectRegexp)
		if err != nil {
			sg.Error = err.Error()
			return
		}
		ids = append(ids, sgverify.WithCertificateIdentity(ci))
	}
	res, err := sv.Verify(b, sgverify.NewPolicy(sgverify.WithArtifact(bytes.NewReader(data)), ids...))
	if res == nil || res.Signature == nil || res.Signature.Certificate == nil {
		// Fill in who claims to have signed, for the report.
		if vc, verr := b.VerificationContent(); verr == nil && vc.Certificate() != nil {
			if san := vc.Certificate().EmailAddresses; len(san) > 0 {
				sg.Identity = san[0]
			} else if uris := vc.Certificate().URIs; len(uris) > 0 {
				sg.Identity = uris[0].String()
			}
		}
		if err == nil {
			err = errors.New("no verified certificate")
		}
		sg.Error = err.Error()
		return
	}
	c := res.Signature.Certificate
	sg.Identity, sg.Issuer = c.SubjectAlternativeName, c.Issuer
	for _, ts := range res.VerifiedTimestamps {
		sg.SignedAt = ts.Timestamp.UTC().Format(time.RFC3339)
		break
	}
	if err != nil {
		sg.Error = err.Error()
		return
	}
	sg.Trusted, sg.signerIDKey = true, "id:"+sg.Identity+"\x00"+sg.Issuer
}
