package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/switchboard-cdp/switchboard/plugins"
)

func main() { plugins.Serve(&FileLog{}) }

// FileLog appends event payloads to a file, one JSON object per line.
type FileLog struct {
	host   plugins.Host
	logger *slog.Logger

	mu   sync.Mutex // serialises appends: Deliver runs concurrently
	file *os.File
	sync bool
}

type settings struct {
	Path string `json:"path"`
	Sync bool   `json:"sync"`
}

// Describe declares the settings; the host validates pipelines.yaml with it.
func (f *FileLog) Describe(context.Context) (plugins.Spec, error) {
	return plugins.Spec{
		Name:        "filelog",
		Version:     "1.0.0",
		Description: "Appends each event's payload as a JSON line to a file.",
		Settings: []plugins.Setting{
			{Name: "path", Type: plugins.TypeString, Required: true,
				Description: "File to append to; its directory must exist."},
			{Name: "sync", Type: plugins.TypeBool, Default: false,
				Description: "Flush the file to disk after every batch."},
		},
		Batch: plugins.BatchLimits{MaxEvents: 500},
	}, nil
}

// Configure checks the settings and opens the file.
func (f *FileLog) Configure(_ context.Context, cfg plugins.Config) error {
	var s settings
	if err := json.Unmarshal(cfg.Settings, &s); err != nil {
		return plugins.FieldErrors{{Field: "settings", Message: err.Error()}}
	}
	if s.Path == "" {
		return plugins.FieldErrors{{Field: "path", Message: "required"}}
	}
	if fi, err := os.Stat(filepath.Dir(s.Path)); err != nil || !fi.IsDir() {
		return plugins.FieldErrors{{Field: "path", Message: "directory " + filepath.Dir(s.Path) + " does not exist"}}
	}
	file, err := os.OpenFile(s.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return plugins.FieldErrors{{Field: "path", Message: err.Error()}}
	}
	f.host, f.logger, f.file, f.sync = cfg.Host, cfg.Logger, file, s.Sync
	f.logger.Info("appending events", "path", s.Path)
	return nil
}

// Deliver writes every new JSON-object payload as one line. It marks the
// whole batch as seen with one StateCreate call, so an event the host
// retries (same messageId) is written only once.
func (f *FileLog) Deliver(ctx context.Context, batch []plugins.Event) ([]plugins.Result, error) {
	results := make([]plugins.Result, 0, len(batch))
	var fresh []plugins.Event
	var lines [][]byte
	for _, e := range batch {
		line, ok := compactObject(e.Payload)
		if !ok {
			results = append(results, plugins.Rejected(e.ID, "not_object", "payload is not a JSON object"))
			continue
		}
		fresh = append(fresh, e)
		lines = append(lines, line)
	}

	entries := make([]plugins.Entry, len(fresh))
	for i, e := range fresh {
		entries[i] = plugins.Entry{Key: seenKey(e), Value: []byte{1}}
	}
	created, err := f.host.StateCreate(ctx, entries, 24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("mark events seen: %w", err) // the host retries the batch
	}
	var buf bytes.Buffer
	var written []plugins.Event
	for i, e := range fresh {
		if !created[i] {
			results = append(results, plugins.Delivered(e.ID)) // an earlier attempt wrote it
			continue
		}
		buf.Write(lines[i])
		buf.WriteByte('\n')
		written = append(written, e)
	}

	if err := f.append(buf.Bytes()); err != nil {
		keys := make([]string, len(written))
		for i, e := range written {
			keys[i] = seenKey(e)
		}
		if derr := f.host.StateDelete(ctx, keys); derr != nil { // so that the retry writes them
			f.logger.Error("cannot unmark events after a failed write", "error", derr)
		}
		for _, e := range written {
			results = append(results, plugins.Retry(e.ID, time.Second, "write_failed", err.Error()))
		}
		return results, nil
	}
	for _, e := range written {
		results = append(results, plugins.Delivered(e.ID))
	}

	counters := []plugins.Counter{{Name: "lines_written", Delta: float64(len(written))}}
	if n := len(batch) - len(fresh); n > 0 {
		counters = append(counters, plugins.Counter{
			Name: "events_rejected", Labels: map[string]string{"code": "not_object"}, Delta: float64(n)})
	}
	if err := f.host.AddCounters(ctx, counters); err != nil {
		f.logger.Warn("cannot add counters", "error", err)
	}
	return results, nil
}

// Close closes the file.
func (f *FileLog) Close(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return nil
	}
	err := f.file.Close()
	f.file = nil
	return err
}

func (f *FileLog) append(lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.file == nil {
		return fmt.Errorf("file is closed")
	}
	if _, err := f.file.Write(lines); err != nil {
		return err
	}
	if f.sync {
		return f.file.Sync()
	}
	return nil
}

// compactObject returns payload on one line if it is a JSON object.
func compactObject(payload json.RawMessage) ([]byte, bool) {
	trimmed := bytes.TrimLeft(payload, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	var line bytes.Buffer
	if err := json.Compact(&line, trimmed); err != nil {
		return nil, false
	}
	return line.Bytes(), true
}

// seenKey is the state key that marks an event as written, across
// delivery attempts.
func seenKey(e plugins.Event) string {
	if e.MessageID != "" {
		return "seen." + e.MessageID
	}
	return "seen." + e.ID
}

var _ plugins.Destination = (*FileLog)(nil)
