// Package channel publishes patchkit bundles to an OCI registry and installs them on
// machines from there: the distribution side of patchkit (docs/channels.md).
//
// # Artifacts
//
// A channel is one repository of an OCI registry (distribution, Harbor, zot, GHCR...)
// or an OCI image layout directory (the offline mirror). It holds three kinds of
// artifact, each an OCI image manifest with an empty config and one layer:
//
//   - a bundle ([ArtifactTypeBundle]): the .pkb file as one blob ([MediaTypeBundle]),
//     the manifest annotated with component, base version, label, sequence and bundle
//     digest ([AnnotationComponent]...), tagged pkb-<first 32 hex of the bundle digest>;
//   - a recall list ([ArtifactTypeRecall]): the signed recall list file of pkg/verify;
//   - the channel index ([ArtifactTypeIndex]): the signed [Index], tagged with the
//     channel name. It is the only thing a machine resolves by name; everything else it
//     fetches by the digest the index names.
//
// # Order
//
// [Publisher.Commit] pushes every blob and manifest first and moves the channel tag
// last, so a reader that sees a new index finds every blob it names. A machine
// ([Update]) trusts nothing the registry says until it is verified: the index by its
// signatures, sequence and expiry; each blob by its size and digest as the index names
// them; each bundle again by its own signatures (pkg/verify) before pkg/install applies
// it.
package channel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Artifact and media types.
const (
	ArtifactTypeBundle = "application/vnd.patchkit.bundle.v1"
	ArtifactTypeRecall = "application/vnd.patchkit.recall.v1"
	ArtifactTypeIndex  = "application/vnd.patchkit.channel-index.v1"

	MediaTypeBundle = "application/vnd.patchkit.bundle.v1.tar"
	MediaTypeRecall = "application/vnd.patchkit.recall.v1+json"
	MediaTypeIndex  = "application/vnd.patchkit.channel-index.v1+json"
)

// Annotations on a bundle's OCI manifest (informational: a machine decides from the
// signed index and the bundle's own manifest, never from annotations).
const (
	AnnotationComponent   = "dev.patchkit.component"
	AnnotationBaseVersion = "dev.patchkit.base-version"
	AnnotationLabel       = "dev.patchkit.label"
	AnnotationSequence    = "dev.patchkit.sequence"
	AnnotationDigest      = "dev.patchkit.bundle-digest"
	AnnotationIndexSeq    = "dev.patchkit.index-sequence"
)

// maxBlobSize bounds any blob a machine downloads (a bundle).
const maxBlobSize = 4 << 30

// Error kinds: what went wrong, for messages and exit codes.
const (
	KindUnavailable = "unavailable" // the registry cannot be reached or fails: try later
	KindDenied      = "denied"      // the registry refuses the credentials
	KindMissing     = "missing"     // the registry lacks something the index names
	KindIntegrity   = "integrity"   // a blob or document is damaged: size, digest, syntax
	KindUntrusted   = "untrusted"   // the index is not signed by enough trusted signers
	KindRollback    = "rollback"    // the index is older than one the machine has seen
	KindStale       = "stale"       // the index has expired (a freeze attack or a stalled publisher)
)

// Error is a failure of the channel: its Kind says which.
type Error struct {
	Kind string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("channel %s: %v", e.Kind, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

func integrity(format string, args ...any) error {
	return &Error{Kind: KindIntegrity, Err: fmt.Errorf(format, args...)}
}

// Ref names a channel: a repository and a tag (the channel name), in a registry or in
// an OCI layout directory.
type Ref struct {
	Layout string // OCI layout directory; "" for a registry
	Repo   string // registry host[:port]/repository
	Tag    string // channel name, or "" when Digest is set
	Digest string // a pinned manifest (pull REPO@sha256:...)
}

func (r Ref) String() string {
	s := r.Repo
	if r.Layout != "" {
		s = "oci:" + r.Layout
	}
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// name is the channel name a first publish gives the index: the repository path
// (without the registry host) or the layout directory's base name, and the tag.
func (r Ref) name() string {
	repo := r.Repo[strings.Index(r.Repo, "/")+1:]
	if r.Layout != "" {
		repo = strings.ToLower(filepath.Base(filepath.Clean(r.Layout)))
	}
	return repo + ":" + r.Tag
}

// ParseRef parses HOST[:PORT]/REPO:TAG, HOST[:PORT]/REPO@sha256:..., or, for an OCI
// layout directory, oci:DIR:TAG or oci:DIR@sha256:....
func ParseRef(s string) (Ref, error) {
	if dir, ok := strings.CutPrefix(s, "oci:"); ok {
		r := Ref{}
		if i := strings.LastIndex(dir, "@"); i >= 0 {
			r.Layout, r.Digest = dir[:i], dir[i+1:]
		} else if i := strings.LastIndex(dir, ":"); i >= 0 && !strings.Contains(dir[i:], "/") {
			r.Layout, r.Tag = dir[:i], dir[i+1:]
		} else {
			return Ref{}, fmt.Errorf("channel %q: want oci:DIR:TAG or oci:DIR@sha256:<hex>", s)
		}
		if r.Layout == "" {
			return Ref{}, fmt.Errorf("channel %q: empty layout directory", s)
		}
		return r, r.check(s)
	}
	pr, err := registry.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("channel %q: %w", s, err)
	}
	r := Ref{Repo: pr.Registry + "/" + pr.Repository}
	if err := pr.ValidateReferenceAsDigest(); err == nil {
		r.Digest = pr.Reference
	} else {
		r.Tag = pr.Reference
	}
	return r, r.check(s)
}

func (r Ref) check(s string) error {
	switch {
	case r.Digest != "" && !digestRE.MatchString(r.Digest):
		return fmt.Errorf("channel %q: digest %q is not sha256:<64 hex>", s, r.Digest)
	case r.Digest == "" && !tagRE.MatchString(r.Tag):
		return fmt.Errorf("channel %q: name the channel with a tag (REPO:TAG)", s)
	}
	return nil
}

// Options say how to reach a registry.
type Options struct {
	PlainHTTP bool // http:// instead of https:// (a loopback test registry)
	// Username and Password log in; when empty, PATCHKIT_REGISTRY_USERNAME and
	// PATCHKIT_REGISTRY_PASSWORD, then the Docker credential store (docker login) are used.
	Username, Password string
	HTTPClient         *http.Client // default: a retrying client with timeouts
	// Timeout bounds every request; 0 means 30 s.
	Timeout time.Duration
}

// Repo is an opened channel repository.
type Repo struct {
	Ref     Ref
	target  oras.Target
	layout  *oci.Store
	fetched atomic.Int64
	timeout time.Duration // per request; a blob also gets 1 s per 64 KiB
}

// BytesFetched returns the blob and manifest bytes fetched through r so far.
func (r *Repo) BytesFetched() int64 { return r.fetched.Load() }

// Open opens the repository of ref.
func Open(ctx context.Context, ref Ref, o *Options) (*Repo, error) {
	if o == nil {
		o = &Options{}
	}
	if ref.Layout != "" {
		s, err := oci.NewWithContext(ctx, ref.Layout)
		if err != nil {
			return nil, fmt.Errorf("opening OCI layout %s: %w", ref.Layout, err)
		}
		return &Repo{Ref: ref, target: s, layout: s, timeout: time.Hour}, nil
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	rr, err := remote.NewRepository(ref.Repo)
	if err != nil {
		return nil, err
	}
	rr.PlainHTTP = o.PlainHTTP
	rr.MaxMetadataBytes = maxManifestBytes
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		tr.ResponseHeaderTimeout = timeout
		tr.MaxIdleConnsPerHost = 4
		hc = &http.Client{Transport: retry.NewTransport(tr)}
	}
	client := &auth.Client{Client: hc, Cache: auth.NewCache()}
	client.SetUserAgent("patchkit")
	user, pass := o.Username, o.Password
	if user == "" && pass == "" {
		user, pass = os.Getenv("PATCHKIT_REGISTRY_USERNAME"), os.Getenv("PATCHKIT_REGISTRY_PASSWORD")
	}
	if user != "" || pass != "" {
		client.Credential = auth.StaticCredential(rr.Reference.Registry, auth.Credential{Username: user, Password: pass})
	} else if store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{}); err == nil {
		client.Credential = credentials.Credential(store)
	}
	rr.Client = client
	return &Repo{Ref: ref, target: rr, timeout: timeout}, nil
}

// classify turns a transport or registry error into an [*Error].
func classify(what string, err error) error {
	var ce *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !isNetErr(err):
		return err
	case errors.Is(err, errdef.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return &Error{Kind: KindMissing, Err: fmt.Errorf("%s: %w", what, err)}
	}
	// oras-go refuses a response whose length is not the descriptor's with an untyped
	// error: the registry holds a truncated or padded blob.
	if strings.Contains(err.Error(), "mismatch Content-Length") {
		return integrity("%s: truncated or padded: the registry's length differs from the size the index names (%v)", what, err)
	}
	var re *errcode.ErrorResponse
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &Error{Kind: KindDenied, Err: fmt.Errorf("%s: %w", what, err)}
		case http.StatusNotFound:
			return &Error{Kind: KindMissing, Err: fmt.Errorf("%s: %w", what, err)}
		}
	}
	return &Error{Kind: KindUnavailable, Err: fmt.Errorf("%s: %w", what, err)}
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func descOf(b Blob) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: b.MediaType, Digest: digest.Digest(b.Digest), Size: b.Size}
}

// checked reads exactly size bytes whose sha256 is want, and fails at EOF otherwise.
type checked struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	size int64
	want string
	what string
}

func newChecked(r io.Reader, b Blob, what string) *checked {
	return &checked{r: io.LimitReader(r, b.Size+1), h: sha256.New(), size: b.Size, want: b.Digest, what: what}
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.size {
		return n, integrity("%s: longer than the %d bytes the index names", c.what, c.size)
	}
	if err == io.EOF {
		if c.n < c.size {
			return n, integrity("%s: truncated: %d of %d bytes", c.what, c.n, c.size)
		}
		if got := "sha256:" + hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return n, integrity("%s: digest %s, the index names %s", c.what, got, c.want)
		}
	}
	return n, err
}

// fetchBlob streams the blob b to w, checked against its size and digest. w has the
// bytes when fetchBlob returns nil; on error, what w got must be discarded.
func (r *Repo) fetchBlob(ctx context.Context, b Blob, what string, w io.Writer) error {
	if b.Size > maxBlobSize {
		return integrity("%s: %d bytes, more than the limit of %d", what, b.Size, maxBlobSize)
	}
	// A registry that stalls in the middle of a body must not hold the machine (and its
	// lock) forever: the whole blob gets the request timeout plus 1 s per 64 KiB.
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, r.timeout+time.Duration(b.Size>>16)*time.Second)
	defer cancel()
	rc, err := r.target.Fetch(ctx, descOf(b))
	if err != nil {
		if ctx.Err() != nil && parent.Err() == nil {
			return &Error{Kind: KindUnavailable, Err: fmt.Errorf("fetching %s %s: timed out", what, b.Digest)}
		}
		return classify("fetching "+what+" "+b.Digest, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, newChecked(rc, b, what))
	r.fetched.Add(n)
	if err != nil {
		var ce *Error
		switch {
		case errors.As(err, &ce), parent.Err() != nil:
			return err
		case ctx.Err() != nil:
			return &Error{Kind: KindUnavailable, Err: fmt.Errorf("fetching %s %s: timed out after %d of %d bytes", what, b.Digest, n, b.Size)}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return integrity("%s %s: truncated: the registry sent %d of %d bytes", what, b.Digest, n, b.Size)
		}
		return classify("fetching "+what+" "+b.Digest, err)
	}
	return nil
}

// fetchSmall fetches a blob of at most limit bytes into memory, checked.
func (r *Repo) fetchSmall(ctx context.Context, b Blob, what string, limit int64) ([]byte, error) {
	if b.Size > limit {
		return nil, integrity("%s: %d bytes, more than the limit of %d", what, b.Size, limit)
	}
	var buf strings.Builder
	buf.Grow(int(b.Size))
	if err := r.fetchBlob(ctx, b, what, &buf); err != nil {
		return nil, err
	}
	return []byte(buf.String()), nil
}

// strictJSON decodes one JSON document into v, refusing unknown fields and trailing data.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the document")
	}
	return nil
}

func jsonIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return append(b, '\n'), err
}
