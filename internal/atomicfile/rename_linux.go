package atomicfile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames old to new, failing if new exists (even an empty directory,
// which rename(2) would replace).
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: check, then rename.
		if _, lerr := os.Lstat(new); lerr == nil {
			return fmt.Errorf("renaming to %s: %w", new, os.ErrExist)
		}
		err = os.Rename(old, new)
	}
	if err != nil {
		return fmt.Errorf("renaming to %s: %w", new, err)
	}
	return nil
}
