package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
)

// Source is one component's pair of trees for [Create].
type Source struct {
	Name          string
	Root          string // prefix under which the component's paths are recorded; "" for none
	BaseVersion   string
	TargetVersion string
	BaseDir       string
	TargetDir     string
}

// CreateOptions describe the bundle [Create] makes.
type CreateOptions struct {
	ID         string // default: the first component's name and the sequence, "name-seq"
	Label      string
	Sequence   int64
	NotAfter   time.Time // zero: no expiry
	Advisories []string
	Activation string
	Supersedes []string
	Created    int64 // Unix seconds (SOURCE_DATE_EPOCH); 0 for none
	Components []Source

	// PinUnchanged records the base digest of every unchanged regular file, so the bundle
	// refuses a base that differs anywhere, not only where it touches.
	PinUnchanged bool
	// NoDelta stores every changed file in full.
	NoDelta bool
	// Exclude lists path.Match patterns of component-relative paths to leave out of the
	// bundle; a pattern matching a directory leaves out everything below it too.
	Exclude []string
	// Progress, if set, is called as work advances, with bytes done and bytes in all.
	Progress func(done, total int64)
}

// scanned is one path of a tree.
type scanned struct {
	node Node
	abs  string
}

// scanTree lists every path below dir, refusing special files and links that leave it.
func scanTree(dir string) (map[string]*scanned, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	out := map[string]*scanned{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if err := CheckPath(rel); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s := &scanned{abs: p}
		switch mode := info.Mode(); {
		case mode.IsRegular():
			s.node = Node{Type: TypeFile, Mode: FormatMode(unixPerm(mode)), Size: info.Size()}
		case mode.IsDir():
			s.node = Node{Type: TypeDir, Mode: FormatMode(unixPerm(mode))}
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			// Absolute and outward links are data (real OS trees have them); the node
			// rules (length, no control characters) still apply.
			s.node = Node{Type: TypeSymlink, Link: link}
			if err := s.node.validate(); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		default:
			return fmt.Errorf("%s: unsupported file type %v (only regular files, directories and symlinks)", p, mode.Type())
		}
		out[rel] = s
		return nil
	})
	return out, err
}

func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}

// pending is a manifest file entry under construction.
type pending struct {
	file   File
	base   *scanned
	target *scanned
	data   []byte // the stored payload
}

// Create compares each component's base and target trees and writes a bundle of the
// differences to w. The output depends only on the trees and opts, never on the machine
// or the number of cores. Create returns the manifest it wrote.
func Create(ctx context.Context, w io.Writer, opts *CreateOptions) (*Manifest, error) {
	if len(opts.Components) == 0 {
		return nil, errors.New("no component to create a bundle for")
	}
	m := &Manifest{
		Activation: opts.Activation,
		Advisories: opts.Advisories,
		Created:    opts.Created,
		Format:     FormatV1,
		ID:         opts.ID,
		Label:      opts.Label,
		Sequence:   opts.Sequence,
		Supersedes: opts.Supersedes,
	}
	if !opts.NotAfter.IsZero() {
		m.NotAfter = opts.NotAfter.UTC().Format(time.RFC3339)
	}
	if m.ID == "" {
		m.ID = fmt.Sprintf("%s-%d", opts.Components[0].Name, opts.Sequence)
	}

	var files []*pending
	seen := map[string]string{}
	for _, src := range opts.Components {
		m.Components = append(m.Components, Component{
			Name: src.Name, Root: src.Root, BaseVersion: src.BaseVersion, TargetVersion: src.TargetVersion,
		})
		base, err := scanTree(src.BaseDir)
		if err != nil {
			return nil, fmt.Errorf("component %s: reading base tree: %w", src.Name, err)
		}
		target, err := scanTree(src.TargetDir)
		if err != nil {
			return nil, fmt.Errorf("component %s: reading target tree: %w", src.Name, err)
		}
		for _, p := range sortedUnion(base, target) {
			if ex, err := excluded(p, opts.Exclude); err != nil {
				return nil, err
			} else if ex {
				continue
			}
			full := p
			if src.Root != "" {
				full = src.Root + "/" + p
			}
			if other, dup := seen[full]; dup {
				return nil, fmt.Errorf("path %s is in both components %s and %s", full, other, src.Name)
			}
			seen[full] = src.Name
			files = append(files, &pending{
				file: File{Component: src.Name, Path: full},
				base: base[p], target: target[p],
			})
		}
	}
	sort.Slice(m.Components, func(i, j int) bool { return m.Components[i].Name < m.Components[j].Name })
	sort.Slice(files, func(i, j int) bool { return files[i].file.Path < files[j].file.Path })

	prog := newProgress(opts.Progress)
	if err := hashAll(ctx, files, prog); err != nil {
		return nil, err
	}
	var keep []*pending
	for _, f := range files {
		if classify(f, opts.PinUnchanged) {
			keep = append(keep, f)
		}
	}
	if err := encodeAll(ctx, keep, !opts.NoDelta, prog); err != nil {
		return nil, err
	}
	for _, f := range keep {
		m.Files = append(m.Files, f.file)
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	mb, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	bw, err := NewWriter(w, mb, nil)
	if err != nil {
		return nil, err
	}
	for _, f := range keep {
		if f.file.Payload != nil {
			if err := bw.WritePayload(bytes.NewReader(f.data)); err != nil {
				return nil, err
			}
		}
	}
	if err := bw.Close(); err != nil {
		return nil, err
	}
	return bw.Manifest(), nil
}

// classify sets the op and nodes of f; it reports false when f is not to be recorded.
func classify(f *pending, pin bool) bool {
	if f.base != nil {
		n := f.base.node
		f.file.Base = &n
	}
	if f.target != nil {
		n := f.target.node
		f.file.Target = &n
	}
	b, t := f.file.Base, f.file.Target
	switch {
	case b == nil:
		f.file.Op = OpAdd
	case t == nil:
		f.file.Op = OpDelete
	case *b == *t:
		if !pin || b.Type != TypeFile {
			return false
		}
		f.file.Op = OpPin
	case b.Type != t.Type:
		f.file.Op = OpReplace
	case b.Type == TypeSymlink:
		f.file.Op = OpLink
	case b.SHA256 == t.SHA256 && b.Size == t.Size:
		f.file.Op = OpMode
	default:
		f.file.Op = OpReplace // encodeAll may turn it into a patch
	}
	return true
}

type progress struct {
	mu          sync.Mutex
	done, total int64
	fn          func(done, total int64)
}

func newProgress(fn func(done, total int64)) *progress { return &progress{fn: fn} }

func (p *progress) add(total int64) {
	p.mu.Lock()
	p.total += total
	p.mu.Unlock()
}

func (p *progress) advance(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	d, t := p.done, p.total
	p.mu.Unlock()
	p.fn(d, t)
}

// parallel runs fn for i in [0,n) on every core and returns the first error.
func parallel(ctx context.Context, n int, fn func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		next int
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := ferr != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(i)
				}
				if err != nil {
					mu.Lock()
					if ferr == nil {
						ferr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return ferr
}

// hashAll fills in the sha256 of every regular file on both sides.
func hashAll(ctx context.Context, files []*pending, prog *progress) error {
	var todo []*scanned
	for _, f := range files {
		for _, s := range []*scanned{f.base, f.target} {
			if s != nil && s.node.Type == TypeFile {
				todo = append(todo, s)
				prog.add(s.node.Size)
			}
		}
	}
	return parallel(ctx, len(todo), func(i int) error {
		s := todo[i]
		sum, n, err := hashFile(s.abs)
		if err != nil {
			return err
		}
		if n != s.node.Size {
			return fmt.Errorf("%s changed size while being read", s.abs)
		}
		s.node.SHA256 = sum
		prog.advance(n)
		return nil
	})
}

func hashFile(p string) (string, int64, error) {
	f, err := OpenRegular(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// readChecked reads a file and checks it still has the digest seen when hashing.
func readChecked(s *scanned) ([]byte, error) {
	data, err := readRegular(s.abs, s.node.Size)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != s.node.SHA256 {
		return nil, errChanged(s.abs)
	}
	return data, nil
}

// encodeAll makes the payload of every file whose target is a regular file with new
// content: a delta against the base file when one is smaller, else the full content.
func encodeAll(ctx context.Context, files []*pending, useDelta bool, prog *progress) error {
	var todo []*pending
	for _, f := range files {
		if t := f.file.Target; t != nil && t.Type == TypeFile && (f.file.Op == OpAdd || f.file.Op == OpReplace) {
			todo = append(todo, f)
			prog.add(t.Size)
		}
	}
	// Largest first, so one big file does not start last and run alone.
	order := make([]*pending, len(todo))
	copy(order, todo)
	sort.SliceStable(order, func(i, j int) bool { return order[i].file.Target.Size > order[j].file.Target.Size })
	return parallel(ctx, len(order), func(i int) error {
		f := order[i]
		data, err := readChecked(f.target)
		if err != nil {
			return err
		}
		var codec string
		var stored []byte
		if useDelta && f.base != nil && f.base.node.Type == TypeFile {
			old, err := readChecked(f.base)
			if err != nil {
				return err
			}
			patch, err := codecs[createDelta].encode(old, data, -1)
			if err != nil {
				return fmt.Errorf("%s: computing delta: %w", f.file.Path, err)
			}
			codec, stored = createDelta, patch
		}
		// The full content is compressed unless the delta is so small that compression
		// could not beat it (it would need a ratio above deltaAlwaysPays), and only as
		// far as it could still be as small as the delta.
		if stored == nil || int64(len(stored))*deltaAlwaysPays >= int64(len(data)) {
			limit := -1
			if stored != nil {
				limit = len(stored)
			}
			full, err := codecs[createFull].encode(nil, data, limit)
			if err != nil {
				return fmt.Errorf("%s: compressing: %w", f.file.Path, err)
			}
			if full != nil {
				codec, stored = createFull, full
			}
		}
		if codecs[codec].delta {
			f.file.Op = OpPatch
		}
		sum := sha256.Sum256(stored)
		f.file.Payload = &Payload{Codec: codec, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(stored))}
		f.data = stored
		prog.advance(f.file.Target.Size)
		return nil
	})
}

// deltaAlwaysPays is the compression ratio above which a delta is kept without
// compressing the full content to compare.
const deltaAlwaysPays = 256

// excluded reports whether p or one of its parent directories matches a pattern.
func excluded(p string, patterns []string) (bool, error) {
	for _, pat := range patterns {
		for q := p; q != "."; q = path.Dir(q) {
			ok, err := path.Match(pat, q)
			if err != nil {
				return false, fmt.Errorf("exclude pattern %q: %w", pat, err)
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// Path returns the OS path of a manifest path below root.
func Path(root, p string) string {
	return filepath.Join(root, filepath.FromSlash(path.Clean(p)))
}
