package sign

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgsign "github.com/sigstore/sigstore-go/pkg/sign"
)

// Public-good Sigstore instances used by [Keyless] when no URL is given.
const (
	DefaultFulcioURL = "https://fulcio.sigstore.dev"
	DefaultRekorURL  = "https://rekor.sigstore.dev"
)

// Keyless signs with an ephemeral key certified by Fulcio for the identity in an OIDC
// token, and records the signature in Rekor. It needs the network.
type Keyless struct {
	IDToken   string // OIDC identity token (for example from SIGSTORE_ID_TOKEN)
	FulcioURL string // default DefaultFulcioURL
	RekorURL  string // default DefaultRekorURL
}

func (k *Keyless) String() string { return "keyless" }

// Sign implements [Signer]. The signature in the result is checked against the
// certificate's key before it is returned; the certificate chain and the log entry are
// checked by verify, which needs the trusted root.
func (k *Keyless) Sign(ctx context.Context, manifest []byte) ([]byte, error) {
	if k.IDToken == "" {
		return nil, errors.New("keyless signing needs an OIDC identity token")
	}
	fulcio, rekor := k.FulcioURL, k.RekorURL
	if fulcio == "" {
		fulcio = DefaultFulcioURL
	}
	if rekor == "" {
		rekor = DefaultRekorURL
	}
	kp, err := sgsign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	pb, err := sgsign.Bundle(&sgsign.PlainData{Data: manifest}, kp, sgsign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        sgsign.NewFulcio(&sgsign.FulcioOptions{BaseURL: fulcio}),
		CertificateProviderOptions: &sgsign.CertificateProviderOptions{IDToken: k.IDToken},
		TransparencyLogs:           []sgsign.Transparency{sgsign.NewRekor(&sgsign.RekorOptions{BaseURL: rekor})},
	})
	if err != nil {
		return nil, fmt.Errorf("keyless signing: %w", err)
	}
	b, err := sgbundle.NewBundle(pb)
	if err != nil {
		return nil, err
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, err
	}
	cert := vc.Certificate()
	if cert == nil {
		return nil, errors.New("keyless signing: no certificate in the result")
	}
	if err := checkWithCert(b, cert, manifest); err != nil {
		return nil, fmt.Errorf("keyless signing: the new signature does not verify: %w", err)
	}
	return marshalBundle(pb)
}

func checkWithCert(b *sgbundle.Bundle, cert *x509.Certificate, manifest []byte) error {
	sc, err := b.SignatureContent()
	if err != nil {
		return err
	}
	ms := sc.MessageSignatureContent()
	if ms == nil {
		return errors.New("not a message signature")
	}
	v, err := Verifier(cert.PublicKey)
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(ms.Signature()), bytes.NewReader(manifest))
}
