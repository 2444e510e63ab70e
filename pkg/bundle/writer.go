package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Member names.
const (
	ManifestMember = "manifest.json"
	sigMemberFmt   = "signatures/%02d.sigstore.json"
)

// SignatureMember returns the name of the i-th signature member (0-based).
func SignatureMember(i int) string { return fmt.Sprintf(sigMemberFmt, i+1) }

// PayloadMember returns the name of the member holding f's payload.
func PayloadMember(f *File) string {
	return payloadMemberRoot + f.Path + "." + codecs[f.Payload.Codec].ext
}

// Writer writes a bundle: the manifest, the signatures, then each payload in manifest
// order, then the end-of-archive marker.
type Writer struct {
	tw       tarWriter
	m        *Manifest
	next     int // index into m.Files of the next file to check for a payload
	finished bool
}

// NewWriter writes manifest (which must be the canonical encoding of a valid manifest) and
// the signature members to w, and returns a Writer expecting the payloads.
func NewWriter(w io.Writer, manifest []byte, signatures [][]byte) (*Writer, error) {
	m, err := ParseManifest(manifest)
	if err != nil {
		return nil, err
	}
	if len(signatures) > maxSignatures {
		return nil, fmt.Errorf("%d signatures, more than the limit of %d", len(signatures), maxSignatures)
	}
	bw := &Writer{tw: tarWriter{w: w, mtime: m.Created}, m: m}
	if err := bw.tw.member(ManifestMember, manifest); err != nil {
		return nil, err
	}
	for i, s := range signatures {
		if len(s) == 0 || len(s) > maxSignatureSize {
			return nil, fmt.Errorf("signature %d is %d bytes (limit %d)", i+1, len(s), maxSignatureSize)
		}
		if err := bw.tw.member(SignatureMember(i), s); err != nil {
			return nil, err
		}
	}
	return bw, nil
}

// Manifest returns the manifest being written.
func (w *Writer) Manifest() *Manifest { return w.m }

// nextPayload returns the next file with a payload, or nil.
func (w *Writer) nextPayload() *File {
	for ; w.next < len(w.m.Files); w.next++ {
		if w.m.Files[w.next].Payload != nil {
			return &w.m.Files[w.next]
		}
	}
	return nil
}

// WritePayload copies the stored bytes of the next payload from src, checking their size
// and digest against the manifest.
func (w *Writer) WritePayload(src io.Reader) error {
	f := w.nextPayload()
	if f == nil {
		return errors.New("no more payloads in the manifest")
	}
	w.next++
	name := PayloadMember(f)
	if err := w.tw.header(name, f.Payload.Size); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w.tw.w, h), io.LimitReader(src, f.Payload.Size))
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if n != f.Payload.Size {
		return fmt.Errorf("writing %s: got %d bytes, the manifest declares %d", name, n, f.Payload.Size)
	}
	if hex.EncodeToString(h.Sum(nil)) != f.Payload.SHA256 {
		return fmt.Errorf("writing %s: content does not match the manifest digest", name)
	}
	return w.tw.pad(n)
}

// Close writes the end-of-archive marker after checking that every payload was written.
func (w *Writer) Close() error {
	if w.finished {
		return nil
	}
	if f := w.nextPayload(); f != nil {
		return fmt.Errorf("payload of %s was not written", f.Path)
	}
	w.finished = true
	return w.tw.close()
}

// WriteMember writes one member with the canonical header of format v1 (docs/format.md
// §1), for tools that assemble archives member by member, such as the generator of
// hostile test vectors. It does not check what the member holds: [NewWriter] writes
// valid bundles.
func WriteMember(w io.Writer, name string, data []byte, mtime int64) error {
	tw := tarWriter{w: w, mtime: mtime}
	return tw.member(name, data)
}

// WriteEnd writes the end-of-archive marker.
func WriteEnd(w io.Writer) error {
	return (&tarWriter{w: w}).close()
}
