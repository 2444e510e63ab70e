package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchkit/patchkit/internal/atomicfile"
	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/spf13/cobra"
)

// idTokenEnv holds the OIDC token for keyless signing, as in cosign.
const idTokenEnv = "SIGSTORE_ID_TOKEN"

type signOptions struct {
	output       outputOptions
	keys         []string
	attach       []string
	out          string
	signatureOut string
	force        bool
	keyless      bool
	idToken      string
	fulcioURL    string
	rekorURL     string
}

func (o *signOptions) addFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.output.addFlags(fs)
	fs.StringArrayVar(&o.keys, "key", nil, "private key file (PEM, cosign's encrypted format accepted) or KMS URI; repeatable: one signature per key")
	fs.StringArrayVar(&o.attach, "attach", nil, "add a signature made elsewhere (a Sigstore bundle over the manifest, e.g. from cosign sign-blob); repeatable")
	fs.StringVarP(&o.out, "output", "o", "", "write the signed bundle here instead of replacing FILE")
	fs.BoolVar(&o.force, "force", false, "replace the -o file if it exists")
	fs.StringVar(&o.signatureOut, "signature-out", "", "also write the new signature (a Sigstore bundle) to this file, for cosign verify-blob")
	fs.BoolVar(&o.keyless, "keyless", false, "sign keyless: OIDC token -> Fulcio certificate -> Rekor entry (needs the network)")
	fs.StringVar(&o.idToken, "identity-token", "", "OIDC identity token for --keyless (default $"+idTokenEnv+")")
	fs.StringVar(&o.fulcioURL, "fulcio-url", sign.DefaultFulcioURL, "Fulcio for --keyless")
	fs.StringVar(&o.rekorURL, "rekor-url", sign.DefaultRekorURL, "Rekor for --keyless")
}

func (o *signOptions) validate() error {
	n := len(o.keys)
	nAttach := len(o.attach)
	if o.keyless {
		n++
		if o.idToken == "" {
			o.idToken = os.Getenv(idTokenEnv)
		}
		if o.idToken == "" {
			return usagef("--keyless needs an OIDC token: --identity-token or $%s", idTokenEnv)
		}
	}
	if n+nAttach == 0 {
		return usagef("give --key KEY (repeatable), --keyless or --attach SIG")
	}
	if o.signatureOut != "" && n != 1 {
		return usagef("--signature-out writes one signature: sign with exactly one key")
	}
	return nil
}

func newSignCmd(_ *globalOptions) *cobra.Command {
	o := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign FILE (--key KEY ... | --keyless) [-o OUT] [--signature-out SIG]",
		Short: "Add signatures to a bundle: one Sigstore bundle per key over the manifest",
		Long: `Sign adds one signature member per key to the bundle: a Sigstore bundle
(protobuf-specs JSON) holding a message signature over the exact manifest bytes,
stored after the manifest and before the payloads. The manifest and every payload
are copied byte for byte (and checked against their digests); the file is replaced
atomically, or written to -o. Each new signature is verified before anything is
written. A key that already signed the bundle is refused.

Keys: PEM private key files (encrypted with the password from $PATCHKIT_PASSWORD
or a terminal prompt; keys from "cosign generate-key-pair" work), env://NAME for a
PEM private key held in the environment variable NAME (a CI secret), or KMS URIs
handled by sigstore's KMS providers: a scheme such as awskms://, gcpkms://,
azurekms:// or hashivault:// is served by the sigstore KMS plugin program
sigstore-kms-SCHEME on PATH.

--signature-out also writes the signature alone, so that cosign can check it:
  patchkit extract FILE --manifest > manifest.json
  cosign verify-blob --key key.pub --bundle sig.json --insecure-ignore-tlog manifest.json`,
		Example: `  PATCHKIT_PASSWORD=... patchkit sign libssl3.pkb --key release1.key --key release2.key
  patchkit sign libssl3.pkb --key release.key --signature-out libssl3.sig.json`,
		Args:    exactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error { return o.validate() },
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSign(cmd, o, args[0])
		},
	}
	o.addFlags(cmd)
	return cmd
}

type signReport struct {
	Type       string       `json:"type"`
	File       string       `json:"file"`
	Output     string       `json:"output"`
	Digest     string       `json:"digest"`
	Signatures []signedInfo `json:"signatures"`
}

type signedInfo struct {
	Member string `json:"member"`
	Signer string `json:"signer"`
	Key    string `json:"key,omitempty"`
}

func runSign(cmd *cobra.Command, o *signOptions, path string) error {
	ctx := cmd.Context()
	out := o.out
	if out == "" {
		out = path
	} else if err := checkOutput(out, o.force); err != nil {
		return err
	}
	signers, err := loadSigners(ctx, o.keys)
	if err != nil {
		return err
	}
	if o.keyless {
		signers = append(signers, &sign.Keyless{IDToken: o.idToken, FulcioURL: o.fulcioURL, RekorURL: o.rekorURL})
	}
	var detached []sign.Detached
	for _, a := range o.attach {
		data, err := readBounded(a, maxSignatureFile)
		if err != nil {
			return fmt.Errorf("--attach: %w", err)
		}
		detached = append(detached, sign.Detached{Name: a, Data: data})
	}
	in, r, err := openBundle(path)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(out, fi.Mode().Perm())
	if err != nil {
		return err
	}
	defer f.Abort()
	added, err := sign.Add(ctx, r, f, signers, detached)
	if err != nil {
		return err
	}
	if o.signatureOut != "" {
		if err := atomicfile.WriteFile(o.signatureOut, added[0].Data, 0o644); err != nil {
			return err
		}
	}
	if err := f.Commit(); err != nil {
		return err
	}
	rep := signReport{Type: "patchkit.sign/v1", File: path, Output: out, Digest: r.Digest(), Signatures: []signedInfo{}}
	for _, a := range added {
		rep.Signatures = append(rep.Signatures, signedInfo{Member: a.Member, Signer: a.Signer, Key: a.Key})
	}
	if o.output.json {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	for _, s := range rep.Signatures {
		who := s.Signer
		if s.Key != "" {
			who = fmt.Sprintf("%s (%s)", filepath.Base(s.Signer), s.Key)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "signed %s: %s by %s\n", out, s.Member, who)
	}
	return nil
}

// maxSignatureFile bounds a signature file read for --attach.
const maxSignatureFile = 1 << 20

// loadSigners opens the signing keys (files or KMS URIs), asking for passwords as needed.
func loadSigners(ctx context.Context, refs []string) ([]sign.Signer, error) {
	var signers []sign.Signer
	for _, ref := range refs {
		k, err := sign.LoadKey(ctx, ref, password)
		if errors.Is(err, sign.ErrNoKMSProvider) {
			scheme, _, _ := strings.Cut(ref, "://")
			return nil, withHint(err, fmt.Sprintf(`this patchkit has no built-in %s:// provider. Either put sigstore's KMS plugin program sigstore-kms-%s on PATH, or sign with cosign, which has the AWS, GCP, Azure and Vault providers, and attach its signature:
    patchkit extract FILE --manifest > manifest.json
    cosign sign-blob --key %s --bundle sig.json --use-signing-config=false --tlog-upload=false --yes manifest.json
    patchkit sign FILE --attach sig.json`, scheme, scheme, ref))
		}
		if err != nil {
			return nil, err
		}
		signers = append(signers, k)
	}
	return signers, nil
}
