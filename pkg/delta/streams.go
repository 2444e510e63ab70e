package delta

import "io"

// streamNames names the stream kinds of a segment in patch order: the
// override and global map streams, then the four of stCtrl..stExtra.
var streamNames = [2 + numStreams]string{"overrides", "global", "control", "runs", "diff", "extra"}

// Stream is one kind of stream of a patch, all segments together.
type Stream struct {
	Name   string // overrides, global, control, runs, diff or extra (docs/delta.md)
	Raw    int64  // decoded bytes
	Stored int64  // bytes in the patch, without stream headers
}

// Streams applies patch to old as Apply does (with every check), discards
// the output and returns the patch's streams by kind, in patch order. If
// each is not nil, it is called with every stream's decoded bytes, which it
// must not keep. This is for tools that study where a patch's bytes go.
func Streams(old io.ReaderAt, oldSize int64, patch io.Reader, newSize int64, each func(name string, raw []byte)) ([]Stream, error) {
	out := make([]Stream, len(streamNames))
	for i, n := range streamNames {
		out[i].Name = n
	}
	err := applyWith(io.Discard, old, oldSize, patch, newSize, func(kind int, stored uint64, raw []byte) {
		out[kind].Raw += int64(len(raw))
		out[kind].Stored += int64(stored)
		if each != nil {
			each(streamNames[kind], raw)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
