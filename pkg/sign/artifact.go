package sign

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// ErrOtherContent reports a signature whose message digest is not that of the data
// being checked: a signature of another manifest (copied from another bundle) or of a
// changed one.
var ErrOtherContent = errors.New("the signature is over other content, not this manifest")

// Artifact is signed data with its digests, each computed once however many signatures
// and keys are tried.
type Artifact struct {
	Data []byte
	sums map[string][]byte
}

// NewArtifact wraps data.
func NewArtifact(data []byte) *Artifact { return &Artifact{Data: data, sums: map[string][]byte{}} }

// digestNames maps the protobuf-specs hash names used in Sigstore bundles to sigstore-go
// artifact digest names.
var digestNames = map[string]string{"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}

// Digest returns the digest of the data with the named algorithm ("SHA2_256",
// "SHA2_384", "SHA2_512").
func (a *Artifact) Digest(alg string) ([]byte, error) {
	if d, ok := a.sums[alg]; ok {
		return d, nil
	}
	var h hash.Hash
	switch alg {
	case "SHA2_256":
		h = sha256.New()
	case "SHA2_384":
		h = sha512.New384()
	case "SHA2_512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	h.Write(a.Data)
	d := h.Sum(nil)
	a.sums[alg] = d
	return d, nil
}

// checkDigest compares a message signature's digest with the data's.
func (a *Artifact) checkDigest(alg string, digest []byte) error {
	d, err := a.Digest(alg)
	if err != nil {
		return err
	}
	if !bytes.Equal(d, digest) {
		return ErrOtherContent
	}
	return nil
}
