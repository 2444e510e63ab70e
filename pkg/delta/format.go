package delta

import (
	"errors"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Codec is the payload codec name recorded in bundle manifests for patches
// made by Diff.
const Codec = "pkdelta1"

// The byte encoding is specified in docs/delta.md; keep the two in step.
const (
	magic   = "PKD" // followed by the version byte
	version = 1

	// Decoder limits. A segment's streams are held in memory while it is
	// applied, so these bound Apply's memory independent of file sizes.
	maxSegmentRaw = 64 << 20 // sum of the raw lengths of a segment's streams
	maxFileSize   = 1 << 40  // oldSize and newSize

	// Encoder targets, well inside the decoder limits.
	segmentTarget = 56 << 20 // start a new segment past this many raw bytes
	zstdWindow    = 32 << 20 // zstd's window (a power of two), for streams under lzmaMinStream
	chunkMax      = 1 << 20  // longest literal run or extra piece per step
	minZeroGap    = 8        // shorter zero runs stay inside a literal run
)

// Segment flags.
const (
	flagX86       = 1 << iota // differences are against x86-64 displacement predictions
	flagOverrides             // an x86 override stream precedes the streams
	flagGlobal                // a global x86 map stream follows (after the overrides)
	flagCoders                // each compressed stream names its coder
	flagTargets               // the extra stream's code fields hold targets (x86extra.go)

	knownFlags = flagX86 | flagOverrides | flagGlobal | flagCoders | flagTargets
)

// Stream coders, named by a byte in segments with flagCoders (else zstd).
const (
	coderZstd = 0 // one zstd frame
	coderLZMA = 1 // an LZMA stream (lzma.go)
)

// x86MinDiff is the number of difference bytes from which the encoder tries
// x86 prediction on a segment.
const x86MinDiff = 64

// The streams of a segment, in patch order.
const (
	stCtrl  = iota // per op: uvarint add, uvarint extra, zigzag varint seek
	stRuns         // per add op: (uvarint zeros, uvarint literals) pairs
	stDiff         // difference bytes of the literal runs
	stExtra        // literal bytes
	numStreams
)

var errShortPatch = errors.New("patch is truncated")

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	encErr  error
)

// zstdEarlyMax is the largest old file for which Diff makes the zstd
// encoder's state before it starts (zstdEarly).
const zstdEarlyMax = 4 << 20

// zstdEarly makes the shared encoder's 35 MB state now, while the heap is
// fresh: made at the end of a diff, it often reuses memory the diff freed,
// and Go zeroes that, faulting in all 35 MB (on libnss3 half the runs took
// 55 MB and about 0.04 s more of system time, for three streams of 51-97
// bytes). Fresh memory is zero already, and only the pages the streams
// touch are faulted in. Only for small files: held through a diff, the
// state lets the heap grow by as much again before a collection
// (libcrypto's RSS went from 60-90 to 90-160 MB), and beside a diff of
// seconds its faults do not count.
func zstdEarly() {
	if e, err := encoder(); err == nil {
		e.EncodeAll(nil, nil)
	}
}

// encoder returns a shared zstd encoder; EncodeAll is safe for concurrent
// use and its output does not depend on concurrency. It holds one encoder
// state: a best-level state is ~35 MB of tables, allocated up front, and
// zeroing a second one cost a small file more than the diff itself (libcrypto
// 0.93 s CPU with two, 0.58 s with one), while streams of a large file that
// need real work go to LZMA, not here.
func encoder() (*zstd.Encoder, error) {
	encOnce.Do(func() {
		enc, encErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderCRC(false), // the bundle hashes the patch
			zstd.WithWindowSize(zstdWindow),
			zstd.WithSingleSegment(true),
			zstd.WithEncoderConcurrency(1),
		)
	})
	return enc, encErr
}
