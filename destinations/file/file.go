// Package file is the built-in destination that appends each mapped event
// to a file as one line of JSON (JSON Lines), the destination a newcomer
// watches with tail -f and a team uses to keep or diff what a pipeline
// produces. It creates the file and its directory; several serve processes
// may append to one file (each batch is one write to a file opened with
// O_APPEND).
//
// It is built on the public SDK in plugins/ exactly as a third party's
// destination would be, and runs out of process as `switchboard plugin
// file`. It must not import anything from core/.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

// Version is the file destination's version, as Describe reports it.
const Version = "1.0.0"

// retryAfter is when a batch whose write failed (a full disk, say) is
// tried again.
const retryAfter = 5 * time.Second

// File is the file destination. New returns one ready for Describe and
// Configure.
type File struct {
	mu     sync.Mutex // serialises writes: Deliver runs concurrently
	f      *os.File   // opened by the first write
	closed bool
	path   string
	sync   bool
	log    *slog.Logger
}

// New returns an unconfigured file destination.
func New() *File { return &File{} }

type settings struct {
	Path string `json:"path"`
	Sync bool   `json:"sync"`
}

// Describe declares the file destination's settings.
func (d *File) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name:    "file",
		Version: Version,
		Description: "Appends each mapped event to a file as one line of JSON (JSON Lines); " +
			"creates the file and its directory. Delivery is at least once: an event retried after a crash may appear twice.",
		Settings: []plugins.Setting{
			{Name: "path", Type: plugins.TypeString, Required: true,
				Description: "The file to append to; a relative path is from serve's working directory."},
			{Name: "sync", Type: plugins.TypeBool, Default: false,
				Description: "Flush the file to disk (fsync) before a batch counts as delivered; without it a crash of the machine, not of serve, may lose the last lines."},
		},
		Batch: plugins.BatchLimits{MaxEvents: 1000},
	}, nil
}

// Configure checks the settings and that the file can be appended to (or
// created, with its directory) without creating anything: switchboard
// validate configures every destination, and must leave no file behind.
// The first batch creates the directory and the file.
func (d *File) Configure(_ context.Context, pc plugins.Config) error {
	var s settings
	dec := json.NewDecoder(bytes.NewReader(pc.Settings))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return plugins.FieldErrors{{Field: strings.Trim(name, `"`), Message: "unknown setting"}}
		}
		return plugins.FieldErrors{{Message: "the settings must be a JSON object with path and sync: " + err.Error()}}
	}
	if s.Path == "" {
		return plugins.FieldErrors{{Field: "path", Message: "required"}}
	}
	if err := checkWritable(s.Path); err != nil {
		return plugins.FieldErrors{{Field: "path", Message: err.Error()}}
	}
	log := pc.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		_ = d.f.Close()
	}
	d.f, d.closed, d.path, d.sync, d.log = nil, false, s.Path, s.Sync, log
	log.Info("appending events", "path", s.Path)
	return nil
}

// checkWritable tells why path could not be appended to: it is not a
// regular file, or it (or, when it does not exist, the closest directory
// above it that does) is not writable, or that is not a directory.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
		if err := syscall.Access(path, writeOK); err != nil {
			return fmt.Errorf("cannot append to %s: %w", path, err)
		}
		return nil
	}
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("cannot create its directory: %s is not a directory", dir)
			}
			if err := syscall.Access(dir, writeOK); err != nil {
				return fmt.Errorf("cannot create it in %s: %w", dir, err)
			}
			return nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("cannot create its directory: %w", err)
		}
		dir = parent
	}
}

// writeOK is access(2)'s W_OK, "may write" (package syscall has no name for it).
const writeOK = 2

// Deliver appends the batch's payloads, one line each, in one write. A
// payload that is not JSON is rejected alone; a failed write is retried
// whole.
func (d *File) Deliver(_ context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	results := make([]plugins.Result, 0, len(batch))
	var buf bytes.Buffer
	var written []string
	for _, e := range batch {
		start := buf.Len()
		// Compact also checks the payload: a mapped event is one line.
		if err := json.Compact(&buf, e.Payload); err != nil || len(e.Payload) == 0 {
			buf.Truncate(start)
			results = append(results, plugins.Rejected(e.ID, "invalid_payload", "the mapped event is not valid JSON"))
			continue
		}
		buf.WriteByte('\n')
		written = append(written, e.ID)
	}
	if err := d.append(buf.Bytes()); err != nil {
		d.log.Warn("appending events failed; they will be retried", "path", d.path, "events", len(written), "error", err)
		for _, id := range written {
			results = append(results, plugins.Retry(id, retryAfter, "write_failed", err.Error()))
		}
		return results, nil
	}
	for _, id := range written {
		results = append(results, plugins.Delivered(id))
	}
	return results, nil
}

func (d *File) append(lines []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.path == "" || d.closed {
		return errors.New("file: Deliver called before Configure or after Close")
	}
	if len(lines) == 0 {
		return nil
	}
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		d.f = f
	}
	if _, err := d.f.Write(lines); err != nil {
		return fmt.Errorf("write %s: %w", d.path, err)
	}
	if d.sync {
		if err := d.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", d.path, err)
		}
	}
	return nil
}

// Close closes the file.
func (d *File) Close(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}

var _ plugins.Destination = (*File)(nil)
