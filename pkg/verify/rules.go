package verify

import (
	"fmt"

	"github.com/patchkit/patchkit/pkg/bundle"
)

// Rules checks the rules of a manifest that need no signature: the sequence floors (the
// policy's min_sequence combined with o.Floors) and recall (the policy's recall lists
// combined with o.Recalls). They are the very checks [Manifest] runs; apply
// --insecure-skip-verify still enforces them through this function. p may be nil.
func Rules(manifest []byte, p *Policy, o *Options) error {
	if p == nil {
		p = &Policy{}
	}
	if o == nil {
		o = &Options{}
	}
	m, err := bundle.ParseManifest(manifest)
	if err != nil {
		return &bundle.Error{Member: bundle.ManifestMember, Err: err}
	}
	if err := checkSequence(m, p, o); err != nil {
		return &Error{Check: CheckSequence, Err: err}
	}
	if _, err := checkRecall(bundle.Digest(manifest), m, p, o); err != nil {
		return &Error{Check: CheckRecall, Err: fmt.Errorf("%w: %v", ErrRecalled, err)}
	}
	return nil
}
