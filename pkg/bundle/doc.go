// Package bundle reads and writes patchkit bundles (.pkb): one file that moves one
// exact base tree to one target tree, signed over its manifest. This is a summary of
// the format; [docs/format.md] specifies every byte.
//
// # Container
//
// A bundle is a POSIX ustar archive, so tar -tvf lists it, restricted to one encoding
// per member: regular files only, fixed owner and mode, mtime equal to the manifest's
// created time, zero padding, and exactly two zero blocks at the end with nothing
// after them. The reader re-encodes the header it expects and compares all 512 bytes;
// any other encoding, a link, a PAX or GNU header, or a byte after the end is an
// [*Error]. [WriteMember] and [WriteEnd] write the canonical encoding member by member.
//
// # Members
//
// The members come in a fixed order:
//
//  1. manifest.json ([ManifestMember]): the manifest, the only signed object;
//  2. signatures/01.sigstore.json, 02, … ([SignatureMember]): 0 to 32 Sigstore bundles
//     over the manifest bytes, before any payload, so a reader authenticates the
//     manifest before it reads a payload byte;
//  3. payloads/PATH.EXT ([PayloadMember]): the stored bytes of each file that has a
//     payload, in manifest order.
//
// A second manifest, a member out of order, a missing or an extra member is refused.
//
// # Manifest
//
// The [Manifest] is canonical JSON: the encoding Go's encoding/json gives the types of
// this package, keys sorted, no white space. [ParseManifest] decodes it strictly
// (unknown fields refused), validates every rule (paths relative and clean, files
// sorted and unique, no path below a symlink, limits) and requires that re-encoding
// gives the same bytes, so one manifest has exactly one encoding. [Digest] names a
// bundle by the SHA-256 of its manifest bytes; adding signatures never changes it.
//
// Each [File] names an [Op] (add, delete, replace, patch, mode, symlink, pin), the
// base and target [Node] (type, mode, size, SHA-256, link text) and, for content, a
// [Payload]: its codec, size and SHA-256. [CheckBase] checks a tree against the base
// nodes, reporting a [*BaseError].
//
// # Codecs
//
// A payload is [CodecZstd] (the full content in zstd frames of at most 8 MiB each) or
// [CodecDelta] (a pkdelta1 patch against the base file, package delta). Every codec is
// one row of a table in codec.go, which the manifest check, member names, [Create] and
// [Entry.Decode] share: a new codec touches that one place, and a name not in it is
// refused. Decoding never produces more than the target size the manifest declares.
//
// # Reading
//
// [NewReader] reads and validates the manifest and the signatures and nothing more;
// the caller (package verify) checks the signatures, then [Reader.Next] yields each
// payload as an [Entry] whose final Read fails unless its bytes match the manifest's
// digest, and [Entry.Decode] produces the target content, checked against the target
// digest. One forward pass, bounded memory. [Extract] writes the target state of every
// touched path into a new directory.
//
// # Writing
//
// [Create] compares base and target trees ([CreateOptions], one [Source] per
// component) and writes a reproducible bundle: same trees and options, same bytes.
// [NewWriter] writes a bundle from manifest bytes, signatures and payloads, checking
// each payload against the manifest; package sign adds signatures that way.
//
// # Test vectors
//
// testdata/vectors at the top of the repository holds a bundle for each threat with
// the exit code and error every command must give; internal/vectorgen makes them.
//
// [docs/format.md]: https://github.com/patchkit/patchkit/blob/main/docs/format.md
package bundle
