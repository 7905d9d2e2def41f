package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in this process. Built-in destinations are served by
// this test binary (os.Executable) as `plugin NAME`; SWITCHBOARD_TEST_MAIN
// makes such a child run main instead of the tests.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("SWITCHBOARD_TEST_MAIN", "1")
	var out, errb bytes.Buffer
	err = run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestPluginsInspectPrintsTheSpec(t *testing.T) {
	out, stderr, err := runCLI(t, "plugins", "inspect", "webhook")
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"webhook 1.0.0",
		"NAME", "TYPE", "REQUIRED", "DEFAULT", "SECRET", "DESCRIPTION",
		"url ", "string", "yes",
		`"POST"`, "One of: POST, PUT, PATCH.",
		"headers", "string_map",
		`"10s"`,
		"Preferred batch: up to 1000 events",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if stderr != "" {
		t.Errorf("inspect wrote to stderr:\n%s", stderr)
	}

	out, _, err = runCLI(t, "plugins", "inspect", "--json", "webhook")
	if err != nil || !strings.Contains(out, `"name": "webhook"`) || !strings.Contains(out, `"default": "10s"`) {
		t.Errorf("inspect --json: %v\n%s", err, out)
	}
	if _, _, err := runCLI(t, "plugins", "inspect", "./no-such-plugin"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("inspect of a missing file: %v", err)
	}
	out, _, _ = runCLI(t, "plugins", "list")
	if strings.TrimSpace(out) != strings.Join(builtinNames(), "\n") {
		t.Errorf("plugins list = %q", out)
	}
}

func TestValidateChecksDestinationSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipelines.yaml")
	write := func(destinations string) {
		t.Helper()
		y := "sources:\n  web:\n    type: segment\n    write_keys: [k]\ndestinations:\n" + destinations
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	write(`  audit:
    plugin: webhook
    settings:
      mode: arrays
      headers: {Authorization: "Bearer ${HOOK_TOKEN:-very-secret-token}"}
`)
	_, stderr, err := runCLI(t, "validate", "-c", path)
	var code exitError
	if !errors.As(err, &code) || code != 1 {
		t.Fatalf("validate = %v; want exit status 1\n%s", err, stderr)
	}
	for _, want := range []string{
		path + ":9:7: destinations.audit.settings.url: required",
		path + `:9:13: destinations.audit.settings.mode: must be one of single, array (got "arrays")`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "very-secret-token") {
		t.Errorf("validate output reveals a secret:\n%s", stderr)
	}

	write(`  audit:
    plugin: webhook
    settings: {url: "https://example.internal/hook", mode: array}
`)
	out, stderr, err := runCLI(t, "validate", "-c", path)
	if err != nil {
		t.Fatalf("validate of a good file: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "ok (1 source, 1 destination, 0 pipelines)") {
		t.Errorf("validate output %q", out)
	}
	if stderr != "" {
		t.Errorf("validate of a good file wrote to stderr:\n%s", stderr)
	}
}

func TestPluginCommandRefusesUnknownNames(t *testing.T) {
	_, _, err := runCLI(t, "plugin", "no-such-destination")
	if err == nil || !strings.Contains(err.Error(), `unknown built-in destination "no-such-destination" (built-ins: file, meta-capi, webhook)`) {
		t.Errorf("plugin no-such-destination = %v", err)
	}
}

func TestPluginCommandRunByHandExplainsItself(t *testing.T) {
	_, stderr, err := runCLI(t, "plugin", "webhook")
	var code exitError
	if !errors.As(err, &code) || code != 1 || !strings.Contains(stderr, "plugin: webhook") {
		t.Errorf("plugin webhook by hand = %v\n%s", err, stderr)
	}
}
