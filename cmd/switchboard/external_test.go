package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildNATSServer builds a real nats-server binary from the module in go.mod.
func buildNATSServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nats-server")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestExternalNATS runs serve against a separate nats-server process with
// user/password auth, and checks events are stored in that server.
func TestExternalNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server")
	}
	bin := buildNATSServer(t)
	dir := t.TempDir()
	port := freePort(t)
	ns := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(dir, "js"),
		"--user", "sb", "--pass", "hunter2-nats")
	ns.Stdout, ns.Stderr = os.Stderr, os.Stderr
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Process.Kill(); _ = ns.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	natsSection := fmt.Sprintf("  url: nats://127.0.0.1:%d\n  user: sb\n  password: hunter2-nats", port)
	cfg := writeConfig(t, dir, natsSection)
	s := startServe(t, cfg)
	postBatch(t, s.url, "ext", 120)
	s.stop()

	// A second serve against the same cluster sees what the first stored.
	s = startServe(t, cfg)
	if ids := messageIDs(t, storedEvents(t, s.url)); len(ids) != 120 {
		t.Fatalf("external mode stored %d events, want 120", len(ids))
	}
	if got := s.logs.String(); strings.Contains(got, "hunter2-nats") {
		t.Fatal("NATS password appears in logs")
	}
}
