package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
)

// Error reports a bundle that is damaged or does not follow the format. Member names the
// tar member where the problem was found ("" when it concerns the whole file).
type Error struct {
	Member string
	Err    error
}

func (e *Error) Error() string {
	if e.Member == "" {
		return "bundle: " + e.Err.Error()
	}
	return fmt.Sprintf("bundle member %q: %v", e.Member, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func memberErr(member string, err error) error {
	var be *Error
	if errors.As(err, &be) {
		return err
	}
	return &Error{Member: member, Err: err}
}

// Signature is one signature member as stored: its name and its raw bytes (a Sigstore
// bundle in JSON). The reader does not interpret signatures; package verify does.
type Signature struct {
	Member string
	Data   []byte
}

// Reader reads a bundle in one forward pass with bounded memory. [NewReader] reads the
// manifest and the signatures; [Reader.Next] then yields the payloads in manifest order,
// each checked against its declared size and digest as it is read.
type Reader struct {
	tr       tarReader
	manifest []byte
	m        *Manifest
	sigs     []Signature

	pending     bool // a payload header has been read but not yet returned
	pendingName string
	pendingSize int64
	next        int // index into m.Files of the next file with a payload
	cur         *Entry
	done        bool
}

// NewReader reads and validates the manifest and the signature members of the bundle
// in r. Nothing after the signatures is read until [Reader.Next] is called.
func NewReader(r io.Reader) (*Reader, error) {
	br := &Reader{tr: tarReader{r: r}}
	name, size, mtime, err := br.tr.next()
	if err == io.EOF {
		return nil, &Error{Err: errors.New("empty archive: no manifest")}
	}
	if err != nil {
		return nil, memberErr(ManifestMember, err)
	}
	if name != ManifestMember {
		return nil, memberErr(name, fmt.Errorf("first member must be %q", ManifestMember))
	}
	if size > maxManifestSize {
		return nil, memberErr(name, fmt.Errorf("manifest is %d bytes, more than the limit of %d", size, maxManifestSize))
	}
	br.manifest = make([]byte, size)
	if _, err := io.ReadFull(&br.tr, br.manifest); err != nil {
		return nil, memberErr(name, truncated(err))
	}
	if br.m, err = ParseManifest(br.manifest); err != nil {
		return nil, memberErr(name, err)
	}
	if mtime != br.m.Created {
		return nil, memberErr(name, fmt.Errorf("header mtime %d differs from the manifest's created time %d", mtime, br.m.Created))
	}
	for {
		name, size, err := br.header()
		if err == io.EOF {
			br.done = true
			if f := br.peekPayload(); f != nil {
				return nil, memberErr(PayloadMember(f), errors.New("missing: the archive ends before it"))
			}
			return br, nil
		}
		if err != nil {
			return nil, memberErr(br.expectedAfterSignatures(), err)
		}
		if want := SignatureMember(len(br.sigs)); name != want {
			if strings.HasPrefix(name, "signatures/") {
				return nil, memberErr(name, fmt.Errorf("unexpected signature member, want %q", want))
			}
			br.pending, br.pendingName, br.pendingSize = true, name, size
			return br, nil
		}
		if len(br.sigs) == maxSignatures {
			return nil, memberErr(name, fmt.Errorf("more than %d signatures", maxSignatures))
		}
		if size == 0 || size > maxSignatureSize {
			return nil, memberErr(name, fmt.Errorf("signature is %d bytes (limit %d)", size, maxSignatureSize))
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(&br.tr, data); err != nil {
			return nil, memberErr(name, truncated(err))
		}
		br.sigs = append(br.sigs, Signature{Member: name, Data: data})
	}
}

// header reads the next member header and checks its mtime.
func (r *Reader) header() (string, int64, error) {
	name, size, mtime, err := r.tr.next()
	if err != nil {
		return "", 0, err
	}
	if mtime != r.m.Created {
		return "", 0, memberErr(name, fmt.Errorf("header mtime %d differs from the manifest's created time %d", mtime, r.m.Created))
	}
	return name, size, nil
}

func (r *Reader) expectedAfterSignatures() string {
	if f := r.peekPayload(); f != nil {
		return PayloadMember(f)
	}
	return fmt.Sprintf("after %s", SignatureMember(len(r.sigs)-1))
}

// Manifest returns the parsed manifest.
func (r *Reader) Manifest() *Manifest { return r.m }

// ManifestBytes returns the manifest exactly as stored: the bytes signatures cover.
func (r *Reader) ManifestBytes() []byte { return r.manifest }

// Digest returns the bundle digest ([Digest] of the manifest bytes).
func (r *Reader) Digest() string { return Digest(r.manifest) }

// Signatures returns the signature members in order.
func (r *Reader) Signatures() []Signature { return r.sigs }

// peekPayload returns the next file with a payload, or nil.
func (r *Reader) peekPayload() *File {
	if i := r.nextPayloadIndex(); i >= 0 {
		return &r.m.Files[i]
	}
	return nil
}

func (r *Reader) nextPayloadIndex() int {
	for i := r.next; i < len(r.m.Files); i++ {
		if r.m.Files[i].Payload != nil {
			return i
		}
	}
	return -1
}

// Next returns the next payload. An unread remainder of the previous one is read and
// checked first. After the last payload Next checks the end of the archive and returns
// io.EOF; any damage is reported as an [*Error].
func (r *Reader) Next() (*Entry, error) {
	if r.cur != nil {
		if _, err := io.Copy(io.Discard, r.cur); err != nil {
			return nil, err
		}
		r.cur = nil
	}
	i := r.nextPayloadIndex()
	if i < 0 {
		if !r.done {
			if r.pending {
				return nil, memberErr(r.pendingName, errors.New("unexpected member: every payload has been read"))
			}
			_, _, err := r.header()
			if err == nil {
				return nil, memberErr(r.tr.member, errors.New("unexpected member: every payload has been read"))
			}
			if err != io.EOF {
				return nil, memberErr("", fmt.Errorf("end of archive: %w", err))
			}
			r.done = true
		}
		return nil, io.EOF
	}
	f := &r.m.Files[i]
	r.next = i + 1
	want := PayloadMember(f)
	name, size := r.pendingName, r.pendingSize
	if !r.pending {
		if r.done {
			return nil, memberErr(want, errors.New("missing: the archive ends before it"))
		}
		var err error
		name, size, err = r.header()
		if err == io.EOF {
			r.done = true
			return nil, memberErr(want, errors.New("missing: the archive ends before it"))
		}
		if err != nil {
			return nil, memberErr(want, err)
		}
	}
	r.pending = false
	if name != want {
		return nil, memberErr(name, fmt.Errorf("unexpected member, want %q", want))
	}
	if size != f.Payload.Size {
		return nil, memberErr(name, fmt.Errorf("member is %d bytes, the manifest declares %d", size, f.Payload.Size))
	}
	r.cur = &Entry{File: f, Member: name, src: &r.tr, h: sha256.New(), left: size}
	return r.cur, nil
}

// Entry is one payload being read. Reading it yields the stored bytes; the final Read
// returns an [*Error] instead of io.EOF when they do not match the manifest's digest.
type Entry struct {
	File   *File
	Member string
	src    io.Reader
	h      hash.Hash
	left   int64
	err    error
}

func (e *Entry) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		if hex.EncodeToString(e.h.Sum(nil)) != e.File.Payload.SHA256 {
			e.err = memberErr(e.Member, errors.New("payload digest mismatch"))
			return 0, e.err
		}
		e.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.src.Read(p)
	e.h.Write(p[:n])
	e.left -= int64(n)
	if err != nil {
		e.err = memberErr(e.Member, truncated(err))
		return n, e.err
	}
	return n, nil
}

// spool copies the stored bytes of e to f, so their digest is checked before any is
// decoded, then makes e read them back from f.
func (e *Entry) spool(f *os.File) error {
	size := e.File.Payload.Size
	if _, err := io.Copy(f, e); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	e.src, e.h, e.left, e.err = f, sha256.New(), size, nil
	return nil
}

// Decode writes the target content of the entry to w: the payload is read, its digest
// checked, decoded with its codec (deltas apply to base, a reader of the base file whose
// digest the caller has checked), bounded by the declared target size, and the result's
// digest checked against the manifest before Decode returns nil. On error, w may have
// received part of the output: write to a temporary file.
func (e *Entry) Decode(w io.Writer, base io.ReaderAt) error {
	t := e.File.Target
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, h)}
	var err error
	c, ok := codecs[e.File.Payload.Codec]
	if !ok {
		return memberErr(e.Member, fmt.Errorf("unknown payload codec %q", e.File.Payload.Codec))
	}
	var baseSize int64
	if c.delta {
		if base == nil || e.File.Base == nil {
			return memberErr(e.Member, errors.New("delta payload needs the base file"))
		}
		baseSize = e.File.Base.Size
	}
	err = c.decode(cw, e, base, baseSize, t.Size)
	// Read to the end so that the payload digest is checked even if the decoder stopped
	// early; a digest mismatch explains a decoder error, so it is reported first.
	if _, derr := io.Copy(io.Discard, e); derr != nil {
		return derr
	}
	if err != nil {
		return memberErr(e.Member, err)
	}
	if cw.n != t.Size {
		return memberErr(e.Member, fmt.Errorf("decoded %d bytes, the manifest declares %d", cw.n, t.Size))
	}
	if hex.EncodeToString(h.Sum(nil)) != t.SHA256 {
		return memberErr(e.Member, errors.New("decoded content digest mismatch"))
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
