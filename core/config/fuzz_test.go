package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is Problems
// with real positions, and that a value from the environment never shows
// up in a message unless the file itself contains it.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("sources: {a: &a [*a]}\n"))
	f.Add([]byte("sources: {a: {type: segment, write_keys: [\"${SECRET:-${X}}\"]}}\n"))

	const secret = "qq-FUZZ-SECRET-qq"
	lookup := env(map[string]string{
		"SECRET": secret, "EMPTY_VAR": "", "WEB_WRITE_KEY": secret,
		"META_PIXEL_ID": secret, "META_ACCESS_TOKEN": secret, "DEST": "meta",
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data, lookup)
		if err == nil {
			if c == nil {
				t.Fatal("no Config and no error")
			}
			_ = c.Summary()
			return
		}
		if c != nil {
			t.Error("Config returned with an error")
		}
		var problems Problems
		if !errors.As(err, &problems) || len(problems) == 0 {
			t.Fatalf("error %T is not a non-empty Problems: %v", err, err)
		}
		for _, p := range problems {
			if p.Line < 1 || p.Col < 1 || p.File != "f.yaml" || p.Message == "" {
				t.Errorf("bad problem %+v", p)
			}
		}
		msg := err.Error()
		if strings.Contains(msg, secret) && !bytes.Contains(data, []byte(secret)) {
			t.Errorf("a value from the environment leaked into:\n%s", msg)
		}
	})
}
