// Package delta is patchkit's binary delta engine: [Diff] makes a patch
// that turns an old file into a new one, and [Apply] streams the new file
// from the old one and the patch. Bundles record such payloads with the
// codec name [Codec].
//
// # Format
//
// The patch is self-contained and versioned: a header (magic, version, old
// and new size) and segments of four streams (control, runs, differences,
// literals), each raw, zstd-compressed, or (streams of 1 MiB or more, from
// browser-size files) LZMA-coded by the package's own optimal-parse
// encoder, as .lzma streams that xz can read. docs/delta.md specifies every
// byte.
// Bundles store patches as they are and check their SHA-256, and the SHA-256
// of the file Apply produces; the patch carries no checksum of its own.
//
// # Diff
//
// Diff matches with a suffix array of old (SA-IS; for files over 48 MiB
// searched sparsely, and for large x86-64 code with displacements set aside),
// along the same offsets for near-identical rebuilds of 90 MB libraries (a
// second), or, over 1 GiB, through an index of 32-byte blocks; it
// extends matches the bsdiff way so that moved code becomes one op with a
// sparse byte difference, and codes unchanged runs explicitly. For x86-64
// ELF files it also predicts how call/jump and RIP-relative displacements,
// absolute addresses in data and the .eh_frame_hdr table change when code
// moves (the idea behind Courgette and Zucchini), over the whole file (a
// global map of moves, sent once), so the difference holds only what the
// prediction misses. Diff is deterministic: same inputs, same
// patch, on any number of cores; it uses up to two.
//
// # Apply
//
// Apply is strict and bounded: it checks the sizes the caller expects, every
// op against old and new, and every stream's length, and returns an error
// wrapping [ErrCorrupt] for a bad patch, never panicking. It holds at most
// two segments (64 MiB of streams each: it reads and decodes the next while
// the ops of one run), the x86 maps and fixed buffers in memory, whatever
// the file sizes, reads old through an io.ReaderAt and writes new in order.
package delta
