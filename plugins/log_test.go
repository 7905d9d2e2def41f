package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type redacted string

func (redacted) String() string { return "***" }

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(newLogHandler(&buf, LevelTrace))
	ctx := context.Background()
	logger.Log(ctx, LevelTrace, "t")
	logger.Debug("d")
	logger.Info("i", "n", 12, "token", redacted("s3cr3t"), "err", errors.New("boom"), slog.Group("g", "k", "v"))
	logger.Warn("w")
	logger.Error("e")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		lines = append(lines, m)
	}
	wantLevels := []string{"trace", "debug", "info", "warn", "error"}
	if len(lines) != len(wantLevels) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(wantLevels), buf.String())
	}
	for i, l := range lines {
		if l["@level"] != wantLevels[i] || l["@message"] != wantLevels[i][:1] {
			t.Errorf("line %d: %v", i, l)
		}
		ts, _ := l["@timestamp"].(string)
		if _, err := time.Parse(hclogTimeFormat, ts); err != nil {
			t.Errorf("line %d: timestamp %q is not in go-plugin's layout: %v", i, ts, err)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := l[k]; ok {
				t.Errorf("line %d still has slog's %q key", i, k)
			}
		}
	}
	info := lines[2]
	if info["n"] != 12.0 || info["token"] != "***" || info["err"] != "boom" {
		t.Errorf("attributes: %v", info)
	}
	if g, _ := info["g"].(map[string]any); g["k"] != "v" {
		t.Errorf("group: %v", info["g"])
	}
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Error("a redacted value was logged")
	}
}

func TestLevelFromEnv(t *testing.T) {
	for env, want := range map[string]slog.Level{
		"":      slog.LevelInfo,
		"trace": LevelTrace,
		"DEBUG": slog.LevelDebug,
		"warn":  slog.LevelWarn,
		"error": slog.LevelError,
		"bogus": slog.LevelInfo,
	} {
		t.Setenv(LogLevelEnv, env)
		if got := levelFromEnv(); got != want {
			t.Errorf("%s=%q: level %v, want %v", LogLevelEnv, env, got, want)
		}
	}
}

func TestLaunchedByHost(t *testing.T) {
	var stderr bytes.Buffer
	if launchedByHost(func(string) string { return "" }, &stderr, "./bin/my-plugin") {
		t.Fatal("launched by host without the magic cookie")
	}
	if !strings.Contains(stderr.String(), "my-plugin is a Switchboard destination plugin") ||
		!strings.Contains(stderr.String(), "plugin: ./bin/my-plugin") {
		t.Errorf("message:\n%s", stderr.String())
	}

	stderr.Reset()
	getenv := func(k string) string {
		if k == Handshake.MagicCookieKey {
			return Handshake.MagicCookieValue
		}
		return ""
	}
	if !launchedByHost(getenv, &stderr, "x") || stderr.Len() != 0 {
		t.Errorf("with the cookie: not launched by host, or wrote %q", stderr.String())
	}
}

func TestDurationToMillis(t *testing.T) {
	for d, want := range map[time.Duration]uint64{
		-time.Second:            0,
		0:                       0,
		time.Nanosecond:         1,
		time.Millisecond:        1,
		1500 * time.Microsecond: 2,
		time.Minute:             60000,
	} {
		if got := durationToMillis(d); got != want {
			t.Errorf("durationToMillis(%v) = %d, want %d", d, got, want)
		}
	}
}
