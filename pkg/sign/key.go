package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/patchkit/patchkit/internal/atomicfile"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Key algorithms accepted by [GenerateKey].
const (
	ECDSAP256 = "ecdsa-p256" // the default: ECDSA P-256 with SHA-256
	Ed25519   = "ed25519"    // pure Ed25519 over the manifest, SHA-512 message digest: what cosign verify-blob checks
	RSA3072   = "rsa-3072"   // RSA PKCS#1 v1.5 with SHA-256
)

// Algorithms lists the values [GenerateKey] accepts, the default first.
var Algorithms = []string{ECDSAP256, Ed25519, RSA3072}

// PassFunc returns the password protecting a key file; confirm asks for it twice.
type PassFunc func(confirm bool) ([]byte, error)

// GenerateKey makes a new private key of the named algorithm.
func GenerateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("unknown key algorithm %q (want one of %s)", alg, strings.Join(Algorithms, ", "))
}

// MarshalKeyPair encodes priv as an encrypted PEM private key in the format cosign uses
// ("ENCRYPTED SIGSTORE PRIVATE KEY": PKCS#8 sealed with scrypt and secretbox), and its
// public key as a PEM "PUBLIC KEY".
func MarshalKeyPair(priv crypto.Signer, password []byte) (privPEM, pubPEM []byte, err error) {
	der, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting private key: %w", err)
	}
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, der), pubPEM, nil
}

// WriteKeyPair generates a key and writes prefix+".key" (encrypted, mode 0600, never
// overwriting) and prefix+".pub". It returns the public key's fingerprint.
func WriteKeyPair(prefix, alg string, pass PassFunc) (string, error) {
	keyPath, pubPath := prefix+".key", prefix+".pub"
	for _, p := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("%s already exists: refusing to overwrite a key", p)
		}
	}
	priv, err := GenerateKey(alg)
	if err != nil {
		return "", err
	}
	pw, err := pass(true)
	if err != nil {
		return "", err
	}
	privPEM, pubPEM, err := MarshalKeyPair(priv, pw)
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteNew(keyPath, privPEM, 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.WriteNew(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return "", err
	}
	return Fingerprint(priv.Public())
}

// Fingerprint names a public key: "sha256:" and the hex SHA-256 of its PKIX DER encoding.
func Fingerprint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// hint is the key hint stored in a key-signed Sigstore bundle: base64 of the SHA-256 of
// the PKIX DER key, as sigstore-go writes it. Verifiers do not trust it.
func hint(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return []byte(base64.StdEncoding.EncodeToString(sum[:])), nil
}

// Algorithm returns the signature algorithm details for pub: ECDSA with the curve's
// hash, RSA PKCS#1 v1.5 with SHA-256; for Ed25519 it returns Ed25519ph, but patchkit
// signs pure Ed25519 (see [Key.SignData]) and verifies both.
func Algorithm(pub crypto.PublicKey) (signature.AlgorithmDetails, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return signature.AlgorithmDetails{}, fmt.Errorf("RSA key of %d bits is too small (minimum 2048)", k.N.BitLen())
		}
	default:
		return signature.AlgorithmDetails{}, fmt.Errorf("unsupported public key type %T", pub)
	}
	return signature.GetDefaultAlgorithmDetails(pub, options.WithED25519ph())
}

// Verifier returns the verifier of message signatures patchkit makes with pub.
func Verifier(pub crypto.PublicKey) (signature.Verifier, error) {
	if ed, ok := pub.(ed25519.PublicKey); ok {
		return signature.LoadED25519Verifier(ed)
	}
	alg, err := Algorithm(pub)
	if err != nil {
		return nil, err
	}
	return signature.LoadVerifierFromAlgorithmDetails(pub, alg)
}

// Verifiers returns every verifier a signature by pub is accepted with: [Verifier],
// and for Ed25519 also Ed25519ph, the form "cosign sign-blob" makes with Ed25519 keys.
func Verifiers(pub crypto.PublicKey) ([]signature.Verifier, error) {
	v, err := Verifier(pub)
	if err != nil {
		return nil, err
	}
	vs := []signature.Verifier{v}
	if ed, ok := pub.(ed25519.PublicKey); ok {
		ph, err := signature.LoadED25519phVerifier(ed)
		if err != nil {
			return nil, err
		}
		vs = append(vs, ph)
	}
	return vs, nil
}

// ParsePublicKey reads a PEM public key ("PUBLIC KEY" or "RSA PUBLIC KEY").
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, err
	}
	if _, err := Algorithm(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// Key is a signing key: a private key from a file, or a KMS key.
type Key struct {
	Ref    string // file path or KMS URI, for messages
	signer crypto.Signer
	opts   crypto.SignerOpts
	alg    signature.AlgorithmDetails
	hint   []byte
}

// EnvScheme prefixes a key reference naming an environment variable that holds a PEM
// private key: "env://PATCHKIT_KEY", as in cosign. CI systems hand secrets over this way.
const EnvScheme = "env://"

// IsKMS reports whether ref names a KMS key ("scheme://...") rather than a file or an
// environment variable.
func IsKMS(ref string) bool {
	return strings.Contains(ref, "://") && !strings.HasPrefix(ref, EnvScheme)
}

// ErrNoKMSProvider is matched (errors.Is) when no KMS provider serves a key URI's
// scheme: this build has none for awskms://, gcpkms://, azurekms:// or hashivault://
// unless the sigstore plugin program sigstore-kms-SCHEME is on PATH.
var ErrNoKMSProvider = errors.New("no KMS provider for this scheme")

// LoadKey opens the signing key ref: a KMS URI (any scheme sigstore's kms.Get knows,
// including its plugin protocol: an executable sigstore-kms-SCHEME on PATH), env://NAME
// (a PEM private key in that environment variable), or a PEM private key file,
// encrypted (cosign's format) or not.
func LoadKey(ctx context.Context, ref string, pass PassFunc) (*Key, error) {
	if name, ok := strings.CutPrefix(ref, EnvScheme); ok {
		data := os.Getenv(name)
		if name == "" || data == "" {
			return nil, fmt.Errorf("key %s: the environment variable %q is not set or empty", ref, name)
		}
		priv, err := ParsePrivateKey([]byte(data), pass)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", ref, err)
		}
		return newKey(ref, priv, nil)
	}
	if IsKMS(ref) {
		sv, err := kms.Get(ctx, ref, crypto.SHA256)
		var nf *kms.ProviderNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("kms key %s: %w (%w)", ref, ErrNoKMSProvider, err)
		}
		if err != nil {
			return nil, fmt.Errorf("kms key %s: %w", ref, err)
		}
		s, opts, err := sv.CryptoSigner(ctx, func(error) {})
		if err != nil {
			return nil, fmt.Errorf("kms key %s: %w", ref, err)
		}
		return newKey(ref, s, opts)
	}
	data, err := os.ReadFile(ref)
	if err != nil {
		return nil, err
	}
	priv, err := ParsePrivateKey(data, pass)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return newKey(ref, priv, nil)
}

// ParsePrivateKey decodes a PEM private key, decrypting it with the password from pass
// when it is encrypted.
func ParsePrivateKey(data []byte, pass PassFunc) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM private key")
	}
	pf := cryptoutils.SkipPassword
	if strings.HasPrefix(block.Type, "ENCRYPTED") {
		pf = cryptoutils.PassFunc(pass)
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, pf)
	if err != nil {
		if strings.Contains(err.Error(), "decrypt") {
			return nil, fmt.Errorf("wrong password or damaged key: %w", err)
		}
		return nil, err
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
	// cryptoutils returns ed25519.PrivateKey by pointer in some versions.
	if p, ok := s.(*ed25519.PrivateKey); ok {
		s = *p
	}
	return s, nil
}

func newKey(ref string, s crypto.Signer, opts crypto.SignerOpts) (*Key, error) {
	alg, err := Algorithm(s.Public())
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	h, err := hint(s.Public())
	if err != nil {
		return nil, err
	}
	if opts == nil {
		opts = alg.GetHashType()
	}
	return &Key{Ref: ref, signer: s, opts: opts, alg: alg, hint: h}, nil
}

// NewKey wraps a private key (for tests and library users holding keys in memory).
func NewKey(name string, s crypto.Signer) (*Key, error) { return newKey(name, s, nil) }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Fingerprint returns the public key's [Fingerprint].
func (k *Key) Fingerprint() string {
	fp, _ := Fingerprint(k.Public())
	return fp
}

// The methods below make Key a sigstore-go sign.Keypair.

func (k *Key) GetHashAlgorithm() protocommon.HashAlgorithm {
	if k.pureEd25519() {
		return protocommon.HashAlgorithm_SHA2_512
	}
	return k.alg.GetProtoHashType()
}
func (k *Key) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	if k.pureEd25519() {
		return protocommon.PublicKeyDetails_PKIX_ED25519
	}
	return k.alg.GetSignatureAlgorithm()
}

func (k *Key) pureEd25519() bool { return k.alg.GetKeyType() == signature.ED25519 }
func (k *Key) GetHint() []byte   { return k.hint }
func (k *Key) GetKeyAlgorithm() string {
	switch k.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}
func (k *Key) GetPublicKey() crypto.PublicKey { return k.Public() }
func (k *Key) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	return string(b), err
}

// SignData signs data and returns the signature and the message digest recorded in the
// Sigstore bundle. ECDSA and RSA sign the digest. Ed25519 signs data itself (pure
// Ed25519, which "cosign verify-blob --key" checks) and records its SHA-512, which
// verifiers compare with the data they hold.
func (k *Key) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	if k.pureEd25519() {
		digest := sha512.Sum512(data)
		sig, err := k.signer.Sign(rand.Reader, data, crypto.Hash(0))
		if err != nil {
			return nil, nil, fmt.Errorf("signing with %s: %w", k.Ref, err)
		}
		return sig, digest[:], nil
	}
	h := k.alg.GetHashType().New()
	h.Write(data)
	digest := h.Sum(nil)
	sig, err := k.signer.Sign(rand.Reader, digest, k.opts)
	if err != nil {
		return nil, nil, fmt.Errorf("signing with %s: %w", k.Ref, err)
	}
	return sig, digest, nil
}
