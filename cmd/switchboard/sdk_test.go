package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// runSDK drives a real client library (testdata/sdk/send.js) against base
// and returns the messageIds it reports sent.
func runSDK(t *testing.T, lib, base string, count string) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for the SDK compatibility tests (it is on the CI machine): ", err)
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "sdk"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		t.Fatalf("SDK packages missing: run `make sdk-deps` (make test does): %v", err)
	}
	cmd := exec.Command(node, "send.js", lib, base, testWriteKey, count)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node send.js %s: %v\n%s", lib, err, stderr)
	}
	var res struct {
		Sent []string `json:"sent"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("send.js output %q: %v", out, err)
	}
	return res.Sent
}

func TestRealSDKsStoreEveryCallOnce(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, writeConfig(t, dir, "  store_dir: "+filepath.Join(dir, "data")))
	for _, lib := range []string{"segment", "rudder"} {
		t.Run(lib, func(t *testing.T) {
			sent := runSDK(t, lib, s.url, "45")
			if len(sent) != 45 {
				t.Fatalf("%s reported %d calls sent, want 45", lib, len(sent))
			}
			stored := messageIDs(t, storedEvents(t, s.url))
			for _, id := range sent {
				if stored[id] != 1 {
					t.Errorf("messageId %q stored %d times, want once", id, stored[id])
				}
			}
		})
	}
}
