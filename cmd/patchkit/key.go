package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/patchkit/patchkit/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// passwordEnv holds the password of encrypted key files for non-interactive use.
const passwordEnv = "PATCHKIT_PASSWORD"

// password returns the key password: $PATCHKIT_PASSWORD if set (even empty), else a
// prompt on the terminal, else an error.
func password(confirm bool) ([]byte, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return []byte(pw), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, withHint(errors.New("the key password is needed and there is no terminal to ask it on"),
			"set "+passwordEnv+" (it may be empty for an unencrypted key)")
	}
	fmt.Fprint(os.Stderr, "Enter password for private key: ")
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "Enter password for private key again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, errors.New("passwords do not match")
		}
	}
	return pw, nil
}

func newKeyCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Generate signing keys and show public keys",
		Args:  exactArgs(0),
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeyGenerateCmd(g), newKeyPublicCmd(g))
	return cmd
}

type keyGenerateOptions struct {
	output    outputOptions
	prefix    string
	algorithm string
}

func newKeyGenerateCmd(_ *globalOptions) *cobra.Command {
	o := &keyGenerateOptions{}
	cmd := &cobra.Command{
		Use:   "generate --output-key-prefix NAME [--algorithm ALG]",
		Short: "Generate a key pair: NAME.key (encrypted, 0600) and NAME.pub",
		Long: `Generate writes a new signing key to NAME.key, encrypted with the password from
$PATCHKIT_PASSWORD (or asked on the terminal), with mode 0600 and never over an
existing file, and its public key to NAME.pub (PEM). The key file is in cosign's
format ("ENCRYPTED SIGSTORE PRIVATE KEY"): cosign can sign with it, and patchkit
accepts keys made by "cosign generate-key-pair".

Algorithms: ecdsa-p256 (default; ECDSA P-256 with SHA-256), ed25519 (signs as
Ed25519ph, the Ed25519 form cosign and sigstore-go verify in message signatures),
rsa-3072 (RSA PKCS#1 v1.5 with SHA-256).`,
		Example: `  PATCHKIT_PASSWORD=... patchkit key generate --output-key-prefix release`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			fp, err := sign.WriteKeyPair(o.prefix, o.algorithm, password)
			if err != nil {
				return err
			}
			if o.output.json {
				return writeJSON(cmd.OutOrStdout(), map[string]string{
					"type": "patchkit.key-generate/v1", "private_key": o.prefix + ".key", "public_key": o.prefix + ".pub",
					"algorithm": o.algorithm, "fingerprint": fp,
				})
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s.key and %s.pub (%s, %s)\n", o.prefix, o.prefix, o.algorithm, fp)
			return nil
		},
	}
	fs := cmd.Flags()
	o.output.addFlags(fs)
	fs.StringVar(&o.prefix, "output-key-prefix", "", "write NAME.key and NAME.pub")
	fs.StringVar(&o.algorithm, "algorithm", sign.ECDSAP256, "key algorithm: "+strings.Join(sign.Algorithms, ", "))
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if o.prefix == "" {
			return usagef("missing --output-key-prefix")
		}
		for _, a := range sign.Algorithms {
			if a == o.algorithm {
				return nil
			}
		}
		return usagef("--algorithm %q: want one of %s", o.algorithm, strings.Join(sign.Algorithms, ", "))
	}
	return cmd
}

func newKeyPublicCmd(_ *globalOptions) *cobra.Command {
	var ref string
	cmd := &cobra.Command{
		Use:   "public-key --key KEY",
		Short: "Print the PEM public key of a key file or KMS key, and its fingerprint on stderr",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := sign.LoadKey(cmd.Context(), ref, password)
			if err != nil {
				return err
			}
			pem, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", k.Fingerprint())
			_, err = cmd.OutOrStdout().Write(pem)
			return err
		},
	}
	cmd.Flags().StringVar(&ref, "key", "", "private key file or KMS URI")
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if ref == "" {
			return usagef("missing --key")
		}
		return nil
	}
	return cmd
}
