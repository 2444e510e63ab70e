package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/patchkit/patchkit/internal/atomicfile"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry"
)

// pushBlob pushes content of the described size and digest unless the repository has it.
func (r *Repo) pushBlob(ctx context.Context, b Blob, content func() (io.ReadCloser, error)) error {
	d := descOf(b)
	if ok, err := r.target.Exists(ctx, d); err != nil {
		return classify("checking blob "+b.Digest, err)
	} else if ok {
		return nil
	}
	rc, err := content()
	if err != nil {
		return err
	}
	defer rc.Close()
	return classify("pushing blob "+b.Digest, r.target.Push(ctx, d, rc))
}

// manifestOptions are the options of every manifest patchkit pushes: a fixed created
// time keeps the manifest of the same content the same bytes.
func manifestOptions(b Blob, annotations map[string]string) oras.PackManifestOptions {
	ann := map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"}
	for k, v := range annotations {
		ann[k] = v
	}
	return oras.PackManifestOptions{Layers: []ocispec.Descriptor{descOf(b)}, ManifestAnnotations: ann}
}

// pushReferrer pushes an artifact of one layer b whose subject is the manifest that
// subjectRef names.
func (r *Repo) pushReferrer(ctx context.Context, subjectRef, artifactType string, b Blob, annotations map[string]string) error {
	subject, err := r.target.Resolve(ctx, subjectRef)
	if err != nil {
		return classify("resolving "+subjectRef, err)
	}
	o := manifestOptions(b, annotations)
	o.Subject = &subject
	if _, err := oras.PackManifest(ctx, r.target, oras.PackManifestVersion1_1, artifactType, o); err != nil {
		return classify("pushing a referrer of "+subjectRef, err)
	}
	if r.layout != nil {
		return r.layout.SaveIndex()
	}
	return nil
}

// referrers returns the artifacts of artifactType whose subject is desc.
func (r *Repo) referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	gs, ok := r.target.(content.ReadOnlyGraphStorage)
	if !ok {
		return nil, nil
	}
	refs, err := registry.Referrers(ctx, gs, desc, artifactType)
	return refs, classify("listing the referrers of "+desc.Digest.String(), err)
}

// pushArtifact pushes an OCI 1.1 image manifest with an empty config and the one layer
// b (already pushed), tags it and returns its descriptor.
func (r *Repo) pushArtifact(ctx context.Context, artifactType string, b Blob, annotations map[string]string, tag string) (ocispec.Descriptor, error) {
	desc, err := oras.PackManifest(ctx, r.target, oras.PackManifestVersion1_1, artifactType, manifestOptions(b, annotations))
	if err != nil {
		return desc, classify("pushing the "+artifactType+" manifest", err)
	}
	if err := r.target.Tag(ctx, desc, tag); err != nil {
		return desc, classify("tagging "+tag, err)
	}
	if r.layout != nil {
		if err := r.layout.SaveIndex(); err != nil {
			return desc, err
		}
	}
	return desc, nil
}

// resolveArtifact resolves ref (a tag or a digest) to one of our manifests and returns
// its single layer, checked for artifact and media type.
func (r *Repo) resolveArtifact(ctx context.Context, ref, artifactType, mediaType string) (Blob, ocispec.Descriptor, error) {
	desc, raw, err := r.fetchManifest(ctx, ref)
	if err != nil {
		return Blob{}, desc, err
	}
	var m ocispec.Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return Blob{}, desc, integrity("%s: decoding the manifest: %v", ref, err)
	}
	if m.ArtifactType != artifactType {
		return Blob{}, desc, integrity("%s: artifact type %q, want %q", ref, m.ArtifactType, artifactType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != mediaType {
		return Blob{}, desc, integrity("%s: want one layer of type %s", ref, mediaType)
	}
	l := m.Layers[0]
	b := Blob{Digest: l.Digest.String(), MediaType: l.MediaType, Size: l.Size}
	if !digestRE.MatchString(b.Digest) || b.Size < 1 {
		return Blob{}, desc, integrity("%s: layer digest %q or size %d invalid", ref, b.Digest, b.Size)
	}
	return b, desc, nil
}

// tagOf is the tag a bundle's manifest gets: pkb- and 32 hex digits of its digest.
func tagOf(bundleDigest string) string {
	return fmt.Sprintf("pkb-%.32s", bundleDigest[len("sha256:"):])
}

// Pulled describes a pulled bundle.
type Pulled struct {
	Blob Blob `json:"blob"`
	// Recalls are the sequences of recall lists the registry lists as referrers of the
	// bundle (unverified: a hint to check, never a reason to trust).
	Recalls []string `json:"recall_referrers,omitempty"`
}

// PullBundle fetches the bundle artifact r.Ref names (a tag or a manifest digest) and
// writes its blob to path, atomically, checked against the layer's size and digest.
func (r *Repo) PullBundle(ctx context.Context, path string) (*Pulled, error) {
	ref := r.Ref.Tag
	if r.Ref.Digest != "" {
		ref = r.Ref.Digest
	}
	b, desc, err := r.resolveArtifact(ctx, ref, ArtifactTypeBundle, MediaTypeBundle)
	if err != nil {
		return nil, err
	}
	out := &Pulled{Blob: b, Recalls: []string{}}
	refs, err := r.referrers(ctx, desc, ArtifactTypeRecall)
	if err != nil {
		return nil, err
	}
	for _, d := range refs {
		out.Recalls = append(out.Recalls, d.Annotations[AnnotationSequence])
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, err
	}
	if err := r.fetchBlob(ctx, b, "bundle", f); err != nil {
		f.Abort()
		return nil, err
	}
	return out, f.Commit()
}

// fetchManifest resolves ref and fetches the manifest it names, bounded and checked
// against its digest: one GET where the target can (a registry), else resolve then
// fetch (an OCI layout).
func (r *Repo) fetchManifest(ctx context.Context, ref string) (ocispec.Descriptor, []byte, error) {
	var desc ocispec.Descriptor
	var rc io.ReadCloser
	var err error
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if rf, ok := r.target.(registry.ReferenceFetcher); ok {
		desc, rc, err = rf.FetchReference(ctx, ref)
	} else if desc, err = r.target.Resolve(ctx, ref); err == nil {
		rc, err = r.target.Fetch(ctx, desc)
	}
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			return desc, nil, &Error{Kind: KindUnavailable, Err: fmt.Errorf("resolving %s %s: timed out", r.Ref, ref)}
		}
		return desc, nil, classify("resolving "+r.Ref.Repo+r.Ref.Layout+" "+ref, err)
	}
	defer rc.Close()
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return desc, nil, integrity("%s: media type %q, want an OCI image manifest", ref, desc.MediaType)
	}
	if desc.Size < 1 || desc.Size > maxManifestBytes {
		return desc, nil, integrity("%s: manifest of %d bytes (limit %d)", ref, desc.Size, maxManifestBytes)
	}
	if err := desc.Digest.Validate(); err != nil || desc.Digest.Algorithm() != digest.SHA256 {
		return desc, nil, integrity("%s: manifest digest %q is not sha256", ref, desc.Digest)
	}
	b := Blob{Digest: desc.Digest.String(), Size: desc.Size, MediaType: desc.MediaType}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, newChecked(rc, b, "manifest "+ref))
	r.fetched.Add(n)
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			return desc, nil, &Error{Kind: KindUnavailable, Err: fmt.Errorf("fetching manifest %s: timed out", ref)}
		}
		return desc, nil, classify("fetching manifest "+ref, err)
	}
	return desc, buf.Bytes(), nil
}

// tagDigest returns the manifest digest tag points at, or "" when there is no such tag.
func (r *Repo) tagDigest(ctx context.Context, tag string) (string, error) {
	desc, err := r.target.Resolve(ctx, tag)
	if err != nil {
		var ce *Error
		if err = classify("resolving "+tag, err); errors.As(err, &ce) && ce.Kind == KindMissing {
			return "", nil
		}
		return "", err
	}
	return desc.Digest.String(), nil
}
