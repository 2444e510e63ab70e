package bundle

import (
	"io"

	"github.com/patchkit/patchkit/pkg/delta"
)

// CodecDelta is a binary delta against the base file (docs/delta.md).
const CodecDelta = delta.Codec

func init() {
	codecs[CodecDelta] = codec{ext: "pkd", delta: true}
	deltaDecoders[CodecDelta] = func(w io.Writer, base io.ReaderAt, baseSize int64, patch io.Reader, size int64) error {
		return delta.Apply(w, base, baseSize, patch, size)
	}
	deltaEncoder = &struct {
		codec string
		diff  func(old, new []byte) ([]byte, error)
	}{CodecDelta, delta.Diff}
}
