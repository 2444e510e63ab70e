package channel

import (
	"context"
	"fmt"

	"github.com/patchkit/patchkit/pkg/verify"
	"oras.land/oras-go/v2"
)

// Mirrored describes a finished [Mirror].
type Mirrored struct {
	Sequence int64 `json:"sequence"`
	Bundles  int   `json:"bundles"`
	Recall   bool  `json:"recall"`
}

// Mirror copies the channel of src (its verified index, every bundle it names and the
// recall list in force) to dst, typically an OCI layout directory carried to machines
// without network: bundles and the recall list first, the index tag last, as
// [Publisher.Commit] does. The index is verified against p before anything is copied,
// and every blob is checked by oras against its descriptor on the way.
func Mirror(ctx context.Context, src, dst *Repo, p *verify.Policy) (*Mirrored, error) {
	v, err := FetchIndex(ctx, src, p)
	if err != nil {
		return nil, err
	}
	if v.Tag() != src.Ref.Tag {
		return nil, integrity("the index at %s is of channel %q", src.Ref, v.Channel)
	}
	if dst.Ref.Tag != src.Ref.Tag {
		return nil, fmt.Errorf("mirror %s to %s: the mirror must keep the channel tag %s", src.Ref, dst.Ref, src.Ref.Tag)
	}
	copyTag := func(tag string) error {
		_, err := oras.Copy(ctx, src.target, tag, dst.target, tag, oras.DefaultCopyOptions)
		return classify("mirroring "+tag, err)
	}
	for _, e := range v.Bundles {
		if err := copyTag(tagOf(e.Digest)); err != nil {
			return nil, err
		}
	}
	if v.Recall != nil {
		if err := oras.CopyGraph(ctx, src.target, dst.target, descOf(*v.Recall), oras.DefaultCopyGraphOptions); err != nil {
			return nil, classify("mirroring the recall list", err)
		}
	}
	// The index verified above, by digest: not whatever the tag points at by now.
	if _, err := oras.Copy(ctx, src.target, v.Manifest, dst.target, dst.Ref.Tag, oras.DefaultCopyOptions); err != nil {
		return nil, classify("mirroring the index", err)
	}
	if dst.layout != nil {
		if err := dst.layout.SaveIndex(); err != nil {
			return nil, err
		}
	}
	return &Mirrored{Sequence: v.Sequence, Bundles: len(v.Bundles), Recall: v.Recall != nil}, nil
}
