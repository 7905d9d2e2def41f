// Package syncio holds small I/O helpers shared by Switchboard's packages.
package syncio

import (
	"io"
	"sync"
)

// LockedWriter serialises writes to W, so that writers on several
// goroutines never interleave or race.
type LockedWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (l *LockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.W.Write(p)
}
