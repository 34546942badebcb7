//go:build unix

package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the file in the data directory that a running hub holds an
// exclusive flock(2) on.
const lockFile = "crossdock.lock"

// lockData takes the data directory for this process: two embedded servers
// writing one JetStream store corrupt it (an acknowledged order was lost
// after both stopped). The lock belongs to the open file, so the kernel
// releases it when the process ends however it ends (kill -9 included):
// no stale lock to clean up. It returns the release func.
func lockData(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("--data %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--data %s: lock: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--data %s is in use by another crossdock%s; stop it or choose another --data", dir, holder(path))
		}
		return nil, fmt.Errorf("--data %s: lock %s: %w", dir, path, err)
	}
	// The pid is for the message another process prints, nothing more.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}

// holder names the process that holds the lock, as far as its file says.
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return " (pid " + pid + ")"
}
