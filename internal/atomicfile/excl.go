package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteNew writes data to path, which must not exist, atomically: the content is
// written and synced in a temporary sibling created with perm, then hard-linked to path
// (which fails if path exists, like O_EXCL) and the directory is synced. It is meant for
// secrets such as private keys, which must never replace an existing file or be seen
// half-written.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
