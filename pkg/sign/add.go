package sign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Detached is a signature made elsewhere (for example by "cosign sign-blob --bundle"
// over the extracted manifest), to be added to a bundle as it is.
type Detached struct {
	Name string // where it came from, for messages and reports
	Data []byte // a Sigstore bundle in JSON
}

// Added describes one signature member that [Add] put in a bundle.
type Added struct {
	Member string // the signature member's name in the bundle
	Signer string // the key path or KMS URI, "keyless", or "attached NAME"
	Key    string // the signing key's fingerprint, for key signers
	Data   []byte // the signature (a Sigstore bundle in JSON)
}

// Add writes to w the bundle read by r with more signatures: the existing ones first,
// then one new signature by each signer, then every detached signature. It refuses a
// key that already signed the bundle or appears twice ([ErrDuplicate]), a detached
// signature that is not over this manifest, and one the bundle already holds. Nothing
// is written to w before every signature is made and checked. The manifest and every
// payload are copied byte for byte, checked against their digests (see [Rewrite]).
func Add(ctx context.Context, r *bundle.Reader, w io.Writer, signers []Signer, detached []Detached) ([]Added, error) {
	manifest := r.ManifestBytes()
	existing := r.Signatures()
	sigs, err := Signatures(ctx, manifest, existing, signers)
	if err != nil {
		return nil, err
	}
	all := make([][]byte, 0, len(existing)+len(sigs)+len(detached))
	for _, s := range existing {
		all = append(all, s.Data)
	}
	var added []Added
	for i, s := range signers {
		a := Added{Signer: s.String(), Data: sigs[i]}
		if k, ok := s.(*Key); ok {
			a.Key = k.Fingerprint()
		}
		added = append(added, a)
	}
	all = append(all, sigs...)
	for _, d := range detached {
		if err := CheckDetached(d.Data, manifest); err != nil {
			return nil, fmt.Errorf("signature %s: %w", d.Name, err)
		}
		for _, prev := range all {
			if bytes.Equal(prev, d.Data) {
				return nil, fmt.Errorf("signature %s: %w", d.Name, ErrAlreadyHeld)
			}
		}
		all = append(all, d.Data)
		added = append(added, Added{Signer: "attached " + d.Name, Data: d.Data})
	}
	if len(added) == 0 {
		return nil, errors.New("no signature to add")
	}
	for i := range added {
		added[i].Member = bundle.SignatureMember(len(existing) + i)
	}
	if err := Rewrite(ctx, r, w, all); err != nil {
		return nil, err
	}
	return added, nil
}

// ErrAlreadyHeld reports a detached signature the bundle already carries.
var ErrAlreadyHeld = errors.New("the bundle already holds this signature")
