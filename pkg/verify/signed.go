package verify

import (
	"fmt"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Document checks detached Sigstore signatures over doc, a signed document other than a
// bundle manifest (pkg/channel's channel index), against p's trusted keys and
// identities: at least threshold (0 means p's Threshold) distinct trusted signers. It
// returns every signer as judged; a failure is an [*Error] with check check.
func Document(doc []byte, sigs [][]byte, p *Policy, threshold int, check string) ([]Signer, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if threshold <= 0 {
		threshold = p.threshold()
	}
	members := make([]bundle.Signature, len(sigs))
	for i, s := range sigs {
		members[i] = bundle.Signature{Member: fmt.Sprintf("signatures[%d]", i), Data: s}
	}
	signers, n, err := checkSignatures(doc, members, p)
	if err != nil {
		return signers, &Error{Check: check, Err: err}
	}
	if n < threshold {
		return signers, &Error{Check: check, Err: fmt.Errorf("%d distinct trusted signer(s), %d needed%s", n, threshold, whyNot(signers))}
	}
	return signers, nil
}
