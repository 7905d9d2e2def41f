package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// env returns a lookup function over a fixed set of variables.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// parseFile parses testdata/name with vars as the environment.
func parseFile(t *testing.T, name string, vars map[string]string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(name, data, env(vars))
}

// mustParse parses testdata/name and fails the test on any problem.
func mustParse(t *testing.T, name string, vars map[string]string) *Config {
	t.Helper()
	c, err := parseFile(t, name, vars)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return c
}

// at is a node's position as "LINE:COL".
func at(n yaml.Node) string { return fmt.Sprintf("%d:%d", n.Line, n.Column) }

func TestParseDesignExample(t *testing.T) {
	c := mustParse(t, "valid-design.yaml", map[string]string{"META_ACCESS_TOKEN": "tok-123"})

	if got, want := c.Summary(), "valid-design.yaml: ok (2 sources, 2 destinations, 1 pipeline)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if c.File != "valid-design.yaml" {
		t.Errorf("File = %q", c.File)
	}
	if c.Server.Listen != ":8080" || c.Server.AdminToken != "" || c.Server.ReadTimeout != 30*time.Second {
		t.Errorf("Server = %+v", c.Server)
	}
	if c.NATS.DedupeWindow != 10*time.Minute || c.NATS.Retention != 168*time.Hour || c.NATS.Stream != "EVENTS" {
		t.Errorf("NATS = %+v", c.NATS)
	}
	wantSources := map[string]Source{
		"web":     {Type: "segment", WriteKeys: []Secret{"dev-write-key"}},
		"tealium": {Type: "tealium", Account: "acme", Profile: "main", UserIDAttribute: "customer_id"},
	}
	if !reflect.DeepEqual(c.Sources, wantSources) {
		t.Errorf("Sources = %#v, want %#v", c.Sources, wantSources)
	}

	meta := c.Destinations["meta"]
	if meta.Plugin != "meta-capi" {
		t.Errorf("meta.Plugin = %q", meta.Plugin)
	}
	for _, tc := range []struct {
		what string
		node yaml.Node
		kind yaml.Kind
		pos  string
	}{
		{"destinations.meta", meta.Node, yaml.MappingNode, "20:5"},
		{"destinations.meta.settings", meta.Settings, yaml.MappingNode, "22:7"},
		{"destinations.audit.settings", c.Destinations["audit"].Settings, yaml.MappingNode, "26:15"},
		{"pipelines.web-to-meta", c.Pipelines["web-to-meta"].Node, yaml.MappingNode, "29:5"},
		{"pipelines.web-to-meta.when", c.Pipelines["web-to-meta"].When, yaml.ScalarNode, "31:11"},
		{"pipelines.web-to-meta.map", c.Pipelines["web-to-meta"].Map, yaml.MappingNode, "33:7"},
	} {
		if tc.node.Kind != tc.kind || at(tc.node) != tc.pos {
			t.Errorf("%s: kind %v at %s, want kind %v at %s", tc.what, tc.node.Kind, at(tc.node), tc.kind, tc.pos)
		}
	}

	wantBatch := Batch{MaxEvents: 1000, MaxBytes: DefaultBatchMaxBytes, MaxWait: time.Second}
	wantRetry := Retry{MaxAttempts: 20, Backoff: time.Second, MaxBackoff: 10 * time.Minute}
	if pl := c.Pipelines["web-to-meta"]; pl.Batch != wantBatch || pl.Retry != wantRetry {
		t.Errorf("batch, retry = %+v, %+v; want %+v, %+v", pl.Batch, pl.Retry, wantBatch, wantRetry)
	}

	// Settings are interpolated in place and keep their positions.
	var settings struct {
		PixelID     string `yaml:"pixel_id"`
		AccessToken string `yaml:"access_token"`
	}
	if err := meta.Settings.Decode(&settings); err != nil {
		t.Fatal(err)
	}
	if settings.PixelID != "" || settings.AccessToken != "tok-123" {
		t.Errorf("settings = %+v", settings)
	}
	pixel := meta.Settings.Content[1]
	if got, want := c.Required(pixel, "destinations.meta.settings.pixel_id").String(),
		"valid-design.yaml:22:17: destinations.meta.settings.pixel_id: required (environment variable META_PIXEL_ID is not set)"; got != want {
		t.Errorf("Required() = %q, want %q", got, want)
	}
	if !c.FromEnv(pixel) || !c.FromEnv(meta.Settings.Content[3]) {
		t.Error("FromEnv is false for interpolated settings")
	}

	pl := c.Pipelines["web-to-meta"]
	if !reflect.DeepEqual(pl.From, []string{"web"}) || pl.To != "meta" {
		t.Errorf("pipeline = from %v to %q", pl.From, pl.To)
	}
	if want := `type == "track" && event in ["Order Completed", "Product Viewed"]`; pl.When.Value != want {
		t.Errorf("When = %q, want %q", pl.When.Value, want)
	}
	if got := c.Problem(&pl.Map, "pipelines.web-to-meta.map", "bad %s", "thing").String(); got != "valid-design.yaml:33:7: pipelines.web-to-meta.map: bad thing" {
		t.Errorf("Problem() = %q", got)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, "valid-minimal.yaml", nil)
	wantServer := Server{
		Listen:         ":8080",
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 65536,
		ShutdownGrace:  25 * time.Second,
		QueueTimeout:   5 * time.Second,
	}
	if !reflect.DeepEqual(c.Server, wantServer) {
		t.Errorf("Server = %+v, want %+v", c.Server, wantServer)
	}
	wantNATS := NATS{
		StoreDir:     "./data",
		Replicas:     1,
		DedupeWindow: 30 * time.Second,
		ReadBehind:   500 * time.Millisecond,
		Retention:    168 * time.Hour,
		Stream:       "EVENTS",
	}
	if !reflect.DeepEqual(c.NATS, wantNATS) {
		t.Errorf("NATS = %+v, want %+v", c.NATS, wantNATS)
	}
	wantSources := map[string]Source{
		"app": {Type: "segment", WriteKeys: []Secret{"k1", "k2"}},
		"tag": {Type: "tealium", Account: "acme", Profile: "main", UserIDAttribute: "customer_id", RateLimit: 2.5, Burst: 3},
	}
	if !reflect.DeepEqual(c.Sources, wantSources) {
		t.Errorf("Sources = %#v, want %#v", c.Sources, wantSources)
	}
	if c.Destinations != nil || c.Pipelines != nil {
		t.Errorf("Destinations = %v, Pipelines = %v; want none", c.Destinations, c.Pipelines)
	}
	if got, want := c.Summary(), "valid-minimal.yaml: ok (2 sources, 0 destinations, 0 pipelines)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestParseEveryField(t *testing.T) {
	c := mustParse(t, "valid-full.yaml", nil)
	wantServer := Server{
		Listen:           "127.0.0.1:9090",
		AdminToken:       "s3cr3t-admin",
		TLSCert:          "/etc/tls/cert.pem",
		TLSKey:           "/etc/tls/key.pem",
		TrustedProxies:   []string{"10.0.0.0/8", "192.168.1.1", "::1"},
		ReadTimeout:      5 * time.Second,
		WriteTimeout:     time.Minute,
		IdleTimeout:      2 * time.Minute,
		MaxHeaderBytes:   8192,
		ShutdownGrace:    10 * time.Second,
		MaxInFlightBytes: 4 << 20,
		QueueTimeout:     3 * time.Second,
	}
	if !reflect.DeepEqual(c.Server, wantServer) {
		t.Errorf("Server = %+v, want %+v", c.Server, wantServer)
	}
	wantNATS := NATS{
		URL:             "nats://a:4222, tls://b:4222,wss://c:443",
		StoreDir:        "./data",
		Replicas:        3,
		DedupeWindow:    2 * time.Minute,
		DuplicateWindow: 10 * time.Second,
		ReadBehind:      250 * time.Millisecond,
		Retention:       24 * time.Hour,
		MaxBytes:        1 << 30,
		SyncAlways:      true,
		User:            "switchboard",
		Password:        "pw",
		TLS:             TLS{CA: "ca.pem", Cert: "c.pem", Key: "k.pem"},
		Stream:          "EVENTS_2",
	}
	if !reflect.DeepEqual(c.NATS, wantNATS) {
		t.Errorf("NATS = %+v, want %+v", c.NATS, wantNATS)
	}
	if s := c.Sources["web"]; s.RateLimit != 100 || s.Burst != 200 {
		t.Errorf("web = %+v", s)
	}
	if d := c.Destinations["hook"]; d.Plugin != "./bin/my-plugin" || d.Settings.Kind != 0 || at(d.Node) != "35:5" {
		t.Errorf("hook = plugin %q, settings kind %v, node at %s", d.Plugin, d.Settings.Kind, at(d.Node))
	}
	if p := c.Pipelines["all"]; p.When.Kind != 0 || p.Map.Kind != 0 || !p.When.IsZero() {
		t.Errorf("absent when/map should be zero nodes: %+v", p)
	}
}

func TestAnchors(t *testing.T) {
	c := mustParse(t, "valid-anchors.yaml", nil)
	if got := c.Sources["tag"].Datasource; got != "acme" {
		t.Errorf("datasource = %q, want the aliased acme", got)
	}
	var hook struct{ URL string }
	b := c.Destinations["b"].Settings
	if err := b.Decode(&hook); err != nil || hook.URL != "https://example.internal/hook" {
		t.Errorf("aliased settings decode to %+v, %v", hook, err)
	}
}

func TestInterpolation(t *testing.T) {
	c := mustParse(t, "valid-env.yaml", map[string]string{
		"ADMIN_TOKEN": "tok",
		"REPLICAS":    "", // empty: the default 3 is used, as in the shell
		"WEB_KEY":     "k$1",
		"EMPTY":       "",
		"NULLISH":     "~",
	})
	if c.Server.Listen != "127.0.0.1:9000" {
		t.Errorf("listen = %q", c.Server.Listen)
	}
	if c.Server.AdminToken != "tok" {
		t.Errorf("admin_token = %q", c.Server.AdminToken.Reveal())
	}
	if c.NATS.Replicas != 3 || c.NATS.Retention != 48*time.Hour {
		t.Errorf("replicas = %d, retention = %v: plain ${...} should be re-resolved as int and duration", c.NATS.Replicas, c.NATS.Retention)
	}
	if c.NATS.TLS.CA != "~" {
		t.Errorf("tls.ca = %q: a variable holding ~ is text, not null", c.NATS.TLS.CA)
	}
	if c.NATS.Stream != "EVENTS" {
		t.Errorf("stream = %q: an unset ${STREAM} in a plain scalar is null and keeps the default", c.NATS.Stream)
	}
	wantKeys := []Secret{"k$1", "lit$eral", "deep", "a$b", "${NOT_A_VAR}"}
	if got := c.Sources["web"].WriteKeys; !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("write_keys = %q, want %q", revealAll(got), revealAll(wantKeys))
	}
	if got := c.Pipelines["p"].To; got != "meta" {
		t.Errorf("to = %q", got)
	}
	if got := c.Pipelines["p"].When.Value; got != `$env.x == "$"` {
		t.Errorf("when = %q", got)
	}
	settings := c.Destinations["meta"].Settings
	if v := settings.Content[3].Value; v != "none" {
		t.Errorf("settings.token = %q", v)
	}
	if got := c.Required(settings.Content[1], "destinations.meta.settings.pixel_id").Message; got != "required (environment variable META_PIXEL_ID is not set)" {
		t.Errorf("Required().Message = %q", got)
	}
	if c.FromEnv(&settings) || c.FromEnv(settings.Content[0]) {
		t.Error("FromEnv is true for a mapping or a key")
	}
}

func revealAll(ss []Secret) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Reveal()
	}
	return out
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "DOLLAR": "$B"}
	for _, tc := range []struct {
		in, want string
		notes    []string
		err      error
		refs     bool
	}{
		{in: "plain", want: "plain"},
		{in: "$", want: "$"},
		{in: "a$b $env", want: "a$b $env"},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "$$$$", want: "$$"},
		{in: "${A}", want: "a", refs: true},
		{in: "x${A}y${A}", want: "xaya", refs: true},
		{in: "${DOLLAR}", want: "$B", refs: true},
		{in: "${UNSET}", want: "", notes: []string{"environment variable UNSET is not set"}, refs: true},
		{in: "${EMPTY}", want: "", notes: []string{"environment variable EMPTY is empty"}, refs: true},
		{in: "${UNSET:-d}", want: "d", refs: true},
		{in: "${EMPTY:-d}", want: "d", refs: true},
		{in: "${A:-d}", want: "a", refs: true},
		{in: "${UNSET:-}", want: "", refs: true},
		{in: "${UNSET:-:8080}", want: ":8080", refs: true},
		{in: "${UNSET:-a b $$ c}", want: "a b $ c", refs: true},
		{in: "${UNSET:-${A}}", want: "a", refs: true},
		{in: "${UNSET:-${ALSO_UNSET}}", want: "", notes: []string{"environment variable ALSO_UNSET is not set"}, refs: true},
		{in: "${A:-${ALSO_UNSET}}", want: "a", refs: true},
		{in: "${UNSET:-${EMPTY:-x}y}z", want: "xyz", refs: true},
		{in: "${A", err: errUnterminated},
		{in: "${", err: errUnterminated},
		{in: "${A:-x", err: errUnterminated},
		{in: "${}", err: errMalformed},
		{in: "${1A}", err: errMalformed},
		{in: "${A-x}", err: errMalformed},
		{in: "${A:?x}", err: errMalformed},
		{in: "${A B}", err: errMalformed},
		{in: strings.Repeat("${A:-", 20) + strings.Repeat("}", 20), err: errTooDeep},
	} {
		t.Run(tc.in, func(t *testing.T) {
			e := expander{lookup: env(vars)}
			got, notes, err := e.expand(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if got != tc.want || !reflect.DeepEqual(notes, tc.notes) || e.refs != tc.refs {
				t.Errorf("= %q %q refs=%v, want %q %q refs=%v", got, notes, e.refs, tc.want, tc.notes, tc.refs)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	secretEnv := map[string]string{"SECRET": "zz-TOP-SECRET-zz"}
	for _, tc := range []struct {
		file string
		env  map[string]string
		want []string
	}{
		{file: "bad-unknown-fields.yaml", want: []string{
			"bad-unknown-fields.yaml:3:3: server.listn: unknown field (did you mean listen?)",
			"bad-unknown-fields.yaml:5:3: nats.storedir: unknown field (did you mean store_dir?)",
			"bad-unknown-fields.yaml:10:5: sources.web.writekey: unknown field (did you mean write_keys?)",
			"bad-unknown-fields.yaml:14:5: destinations.meta.setings: unknown field (did you mean settings?)",
			"bad-unknown-fields.yaml:19:5: pipelines.p.filter: unknown field",
			"bad-unknown-fields.yaml:20:1: pipeline: unknown field (did you mean pipelines?)",
		}},
		{file: "bad-duplicates.yaml", want: []string{
			"bad-duplicates.yaml:4:5: sources.web.type: duplicate key (first defined at line 3)",
			"bad-duplicates.yaml:6:3: sources.web: duplicate key (first defined at line 2)",
			"bad-duplicates.yaml:13:7: destinations.d.settings.pixel_id: duplicate key (first defined at line 12)",
		}},
		{file: "bad-types.yaml", want: []string{
			"bad-types.yaml:2:17: server.read_timeout: must be a duration such as 30s, 10m or 168h",
			"bad-types.yaml:3:21: server.max_header_bytes: must be an integer",
			"bad-types.yaml:4:20: server.trusted_proxies: must be a list, not a single value",
			"bad-types.yaml:5:11: server.listen: must be a string, not a list",
			"bad-types.yaml:7:13: nats.replicas: must be an integer",
			"bad-types.yaml:8:16: nats.sync_always: must be true or false",
			"bad-types.yaml:9:8: nats.tls: must be a mapping, not a single value",
			"bad-types.yaml:13:18: sources.web.write_keys[0]: must be a string, not a mapping",
			"bad-types.yaml:14:17: sources.web.rate_limit: must be a number",
			"bad-types.yaml:15:15: destinations: must be a mapping, not a list",
			"bad-types.yaml:17:6: pipelines.p: must be a mapping, not a single value",
		}},
		{file: "bad-server.yaml", want: []string{
			"bad-server.yaml:2:11: server.listen: must be host:port, such as :8080 or 127.0.0.1:8080",
			"bad-server.yaml:3:13: server.tls_key: required when server.tls_cert is set",
			"bad-server.yaml:4:33: server.trusted_proxies[1]: must be an IP address or a CIDR such as 10.0.0.0/8",
			"bad-server.yaml:4:44: server.trusted_proxies[2]: required",
			"bad-server.yaml:5:17: server.read_timeout: must be greater than 0",
			"bad-server.yaml:6:17: server.idle_timeout: must be greater than 0",
			"bad-server.yaml:7:21: server.max_header_bytes: must be greater than 0",
			"bad-server.yaml:8:24: server.max_in_flight_bytes: must be 0 (1 MiB per CPU, at least 2 MiB) or greater",
			"bad-server.yaml:9:18: server.queue_timeout: must be greater than 0",
		}},
		{file: "bad-nats.yaml", want: []string{
			"bad-nats.yaml:2:8: nats.url: server 1 of 2 must be a nats://, tls://, ws:// or wss:// URL (comma-separated for a cluster)",
			"bad-nats.yaml:3:11: nats.listen: must be host:port, such as :8080 or 127.0.0.1:8080",
			"bad-nats.yaml:4:13: nats.replicas: must be between 1 and 5",
			"bad-nats.yaml:5:18: nats.dedupe_window: must not be longer than nats.retention",
			"bad-nats.yaml:6:14: nats.max_bytes: must not be negative (0 means unlimited)",
			"bad-nats.yaml:7:9: nats.password: required when nats.user is set",
			"bad-nats.yaml:8:14: nats.tls.cert: required when nats.tls.key is set",
			"bad-nats.yaml:9:11: nats.stream: must contain only letters, digits, _ and -",
			"bad-nats.yaml:10:21: nats.duplicate_window: must not be negative (0 turns JetStream's Nats-Msg-Id dedupe off)",
			"bad-nats.yaml:11:16: nats.read_behind: must be between 0 (off) and 10s",
		}},
		{file: "bad-sources.yaml", want: []string{
			`bad-sources.yaml:3:11: sources.web.type: unknown source type "segmnt" (did you mean segment?)`,
			"bad-sources.yaml:4:3: sources.app.write_keys: at least one write key is required",
			"bad-sources.yaml:8:17: sources.app2.write_keys: at least one write key is required",
			"bad-sources.yaml:9:3: sources.tag.account: required",
			"bad-sources.yaml:11:17: sources.tag.rate_limit: must be a number ≥ 0 (0 means unlimited)",
			"bad-sources.yaml:12:12: sources.tag.burst: must not be negative",
			"bad-sources.yaml:13:3: sources.notype.type: required",
			`bad-sources.yaml:15:3: sources["we b"]: name must contain only letters, digits, _ and - (names become NATS subject tokens)`,
			"bad-sources.yaml:18:3: sources.nul.type: required",
		}},
		{file: "bad-write-keys.yaml", want: []string{
			"bad-write-keys.yaml:8:9: sources.app.write_keys[0]: duplicate write key: also configured at sources.web.write_keys[1] (line 4)",
			"bad-write-keys.yaml:9:9: sources.app.write_keys[1]: duplicate write key: also configured at sources.web.write_keys[0] (line 4)",
			"bad-write-keys.yaml:10:9: sources.app.write_keys[2]: duplicate write key: also configured at sources.web.write_keys[0] (line 4)",
		}},
		{file: "bad-pipelines.yaml", want: []string{
			"bad-pipelines.yaml:7:3: destinations.nop.plugin: required",
			`bad-pipelines.yaml:11:12: pipelines.typo.from[0]: unknown source "webb" (did you mean web?)`,
			"bad-pipelines.yaml:11:23: pipelines.typo.from[2]: source listed more than once",
			"bad-pipelines.yaml:11:28: pipelines.typo.from[3]: required",
			`bad-pipelines.yaml:12:9: pipelines.typo.to: unknown destination "mta" (did you mean meta?)`,
			"bad-pipelines.yaml:13:3: pipelines.empty.to: required",
			"bad-pipelines.yaml:14:11: pipelines.empty.from: at least one source is required",
			"bad-pipelines.yaml:15:3: pipelines.missing.from: at least one source is required",
			"bad-pipelines.yaml:15:3: pipelines.missing.to: required",
			`bad-pipelines.yaml:16:3: pipelines["bad name"]: name must contain only letters, digits, _ and - (names become NATS subject tokens)`,
			"bad-pipelines.yaml:23:25: pipelines.limits.batch.max_events: must be at least 1",
			"bad-pipelines.yaml:23:39: pipelines.limits.batch.max_bytes: must be at least 1",
			"bad-pipelines.yaml:23:53: pipelines.limits.batch.max_wait: must not be negative",
			"bad-pipelines.yaml:23:58: pipelines.limits.batch.max_size: unknown field",
			"bad-pipelines.yaml:24:27: pipelines.limits.retry.max_attempts: must be at least 1",
			"bad-pipelines.yaml:24:39: pipelines.limits.retry.backoff: must be greater than 0",
			"bad-pipelines.yaml:24:69: pipelines.limits.retry.max_age: must not be negative",
		}},
		{file: "bad-aliases.yaml", want: []string{
			"bad-aliases.yaml:4:5: sources.app: merge keys (<<) are not supported here",
			"bad-aliases.yaml:9:9: pipelines.loop.to: must be a string, not a mapping",
		}},
		{file: "bad-sections.yaml", want: []string{
			"bad-sections.yaml:1:10: sources: must be a mapping, not a list",
			"bad-sections.yaml:2:15: destinations: must be a mapping, not a single value",
		}},
		{file: "bad-env.yaml", env: map[string]string{"EMPTY_VAR": ""}, want: []string{
			"bad-env.yaml:4:18: sources.web.write_keys[0]: required (environment variable WEB_WRITE_KEY is not set)",
			"bad-env.yaml:4:38: sources.web.write_keys[1]: unterminated ${ (missing })",
			"bad-env.yaml:4:56: sources.web.write_keys[2]: malformed ${...}: want ${NAME} or ${NAME:-default}, NAME made of letters, digits and _",
			"bad-env.yaml:4:67: sources.web.write_keys[3]: required (environment variable EMPTY_VAR is empty)",
			"bad-env.yaml:6:5: sources.app.type: required (environment variable SOURCE_TYPE is not set)",
			"bad-env.yaml:9:5: destinations.meta.plugin: required",
			"bad-env.yaml:13:5: pipelines.p.to: required (environment variable DEST is not set)",
		}},
		{file: "bad-tealium.yaml", want: []string{
			"bad-tealium.yaml:6:5: sources.web.account: only for sources of type tealium",
			"bad-tealium.yaml:7:5: sources.web.key: only for sources of type tealium",
			"bad-tealium.yaml:11:5: sources.tag.write_keys: only for sources of type segment",
			"bad-tealium.yaml:14:14: sources.tag2.account: same account and profile as sources.tag (line 8): requests could not tell them apart; give one a different profile or datasource",
			"bad-tealium.yaml:18:14: sources.tag3.account: must not contain spaces or control characters (it is matched against the request's tealium_account)",
			"bad-tealium.yaml:19:10: sources.tag3.key: must not be empty; leave key out for no authentication",
			"bad-tealium.yaml:20:24: sources.tag3.user_id_attribute: must not be empty; leave it out for the default, customer_id",
			"bad-tealium.yaml:24:5: sources.tag4.key: must not be empty (environment variable TEALIUM_KEY is not set); leave key out for no authentication",
			"bad-tealium.yaml:30:24: sources.tag5.user_id_attribute: must not contain spaces or control characters",
		}},
		{file: "bad-secrets.yaml", env: secretEnv, want: []string{
			"bad-secrets.yaml:3:11: server.listen: must be host:port, such as :8080 or 127.0.0.1:8080",
			"bad-secrets.yaml:4:16: server.admin_token: must be a string, not a list",
			"bad-secrets.yaml:5:13: server.tls_key: required when server.tls_cert is set",
			"bad-secrets.yaml:7:13: nats.replicas: must be an integer",
			"bad-secrets.yaml:8:8: nats.url: must be a nats://, tls://, ws:// or wss:// URL (comma-separated for a cluster)",
			"bad-secrets.yaml:10:13: nats.password: required when nats.user is set (environment variable UNSET_PASSWORD is not set)",
			"bad-secrets.yaml:12:18: nats.dedupe_window: must be a duration such as 30s, 10m or 168h",
			"bad-secrets.yaml:16:31: sources.web.write_keys[1]: duplicate write key: also configured at sources.web.write_keys[0] (line 16)",
			"bad-secrets.yaml:16:63: sources.web.write_keys[3]: duplicate write key: also configured at sources.web.write_keys[2] (line 16)",
			"bad-secrets.yaml:17:17: sources.web.rate_limit: must be a number",
			"bad-secrets.yaml:19:11: sources.other.type: unknown source type",
			"bad-secrets.yaml:20:14: sources.other.account: unterminated ${ (missing })",
			`bad-secrets.yaml:21:3: sources["${SECRET}"]: name must contain only letters, digits, _ and - (names become NATS subject tokens)`,
			`bad-secrets.yaml:21:3: sources["${SECRET}"].write_keys: at least one write key is required`,
			"bad-secrets.yaml:28:12: pipelines.p.from[0]: unknown source",
			"bad-secrets.yaml:29:9: pipelines.p.to: unknown destination",
		}},
		{file: "syntax-anchor.yaml", want: []string{
			"syntax-anchor.yaml:3:8: syntax error: unknown anchor 'wx' referenced",
		}},
		{file: "syntax-control.yaml", want: []string{
			"syntax-control.yaml:2:15: syntax error: control characters are not allowed",
		}},
		{file: "syntax-eof.yaml", want: []string{
			"syntax-eof.yaml:3:1: syntax error: found unexpected end of stream",
		}},
		{file: "syntax-first-line.yaml", want: []string{
			"syntax-first-line.yaml:1:1: syntax error: mapping values are not allowed in this context",
		}},
		{file: "syntax-indent.yaml", want: []string{
			"syntax-indent.yaml:4:1: syntax error: did not find expected key",
		}},
		{file: "syntax-not-a-mapping.yaml", want: []string{
			"syntax-not-a-mapping.yaml:1:1: the file must be a mapping of server, nats, sources, destinations and pipelines",
		}},
		{file: "syntax-tab.yaml", want: []string{
			"syntax-tab.yaml:3:1: syntax error: found character that cannot start any token",
		}},
		{file: "syntax-two-documents.yaml", want: []string{
			"syntax-two-documents.yaml:3:1: only one YAML document is allowed",
		}},
		{file: "syntax-utf8.yaml", want: []string{
			"syntax-utf8.yaml:2:38: syntax error: invalid leading UTF-8 octet",
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := parseFile(t, tc.file, tc.env)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", c.Summary())
			}
			if c != nil {
				t.Error("Parse returned a Config with an error")
			}
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("error is %T, want Problems", err)
			}
			if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestNoSources(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty file", "", "f.yaml:1:1: sources: at least one source is required"},
		{"only comments", "# nothing\n", "f.yaml:1:1: sources: at least one source is required"},
		{"null document", "---\n~\n", "f.yaml:1:1: sources: at least one source is required"},
		{"empty sources", "server: {}\nsources: {}\n", "f.yaml:2:10: sources: at least one source is required"},
		{"null sources", "server: {}\nsources:\n", "f.yaml:2:1: sources: at least one source is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.data), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// TestSecretsNeverInProblems puts distinctive secrets where they do not
// belong and checks that no message shows them, or a part of them.
func TestSecretsNeverInProblems(t *testing.T) {
	const secret = "zz-TOP-SECRET-zz"
	for _, tc := range []struct {
		file    string
		secrets []string
	}{
		{"bad-secrets.yaml", []string{secret, "TOP-SECRET", "LITERAL-SECRET", "DEFAULT-SECRET", "LITERAL-KEY"}},
		{"bad-write-keys.yaml", []string{"SECRET-KEY-1", "shared-key-zz"}},
		{"bad-tealium.yaml", []string{"nope"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := parseFile(t, tc.file, map[string]string{"SECRET": secret})
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, s := range tc.secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("problems contain %q:\n%s", s, err)
				}
			}
		})
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{File: "f.yaml", Line: 9, Col: 1, Path: "b", Message: "second"},
		{File: "f.yaml", Line: 2, Col: 7, Message: "whole file"},
		{File: "f.yaml", Line: 2, Col: 3, Path: "a.b[0]", Message: "first"},
	}
	want := "f.yaml:2:3: a.b[0]: first\nf.yaml:2:7: whole file\nf.yaml:9:1: b: second"
	if got := ps.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if ps[0].Message != "second" {
		t.Error("Error() reordered the receiver")
	}
	var c Config
	if got := c.Problem(nil, "x", "m").String(); got != ":1:1: x: m" {
		t.Errorf("Problem(nil) = %q", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipelines.yaml")
	data, err := os.ReadFile(filepath.Join("testdata", "valid-minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path || len(c.Sources) != 2 {
		t.Errorf("Load = %s", c.Summary())
	}

	t.Setenv("SWITCHBOARD_CONFIG_TEST_TYPE", "tealium")
	if err := os.WriteFile(path, []byte("sources:\n  t:\n    type: $${SWITCHBOARD_CONFIG_TEST_TYPE}\n    account: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), `unknown source type "${SWITCHBOARD_CONFIG_TEST_TYPE}"`) {
		t.Errorf("Load with $$ = %v", err)
	}
	if err := os.WriteFile(path, []byte("sources:\n  t:\n    type: tealium\n    account: ${SWITCHBOARD_CONFIG_TEST_TYPE}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Load(path); err != nil || c.Sources["t"].Account != "tealium" {
		t.Errorf("Load did not read the process environment: %v", err)
	}

	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
}

// TestAliasBomb checks that aliases cannot make a small file expensive.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("destinations:\n  d:\n    plugin: x\n    settings:\n      keys: &k [")
	for i := range 2000 {
		fmt.Fprintf(&b, "key%d, ", i)
	}
	b.WriteString("]\nsources:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  s%d: {type: segment, write_keys: *k}\n", i)
	}
	start := time.Now()
	_, err := Parse("bomb.yaml", []byte(b.String()), nil)
	if err == nil || !strings.HasSuffix(err.Error(), "too many aliases: the file expands to far more values than it contains") || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("err = %.300v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Parse took %v", d)
	}
}

// TestTealiumSource checks a tealium source's keys and defaults: profile
// main, user_id_attribute customer_id, key a Secret that may come from the
// environment, and ${VAR:-} (an explicitly empty default) meaning "no key".
func TestTealiumSource(t *testing.T) {
	data := `sources:
  tag:
    type: tealium
    account: acme
  app:
    type: tealium
    account: acme
    profile: mobile
    datasource: ab12cd
    key: ${TEALIUM_KEY}
    user_id_attribute: email_address
  open:
    type: tealium
    account: acme
    profile: open
    key: ${OPEN_KEY:-}
`
	c, err := Parse("t.yaml", []byte(data), env(map[string]string{"TEALIUM_KEY": "zz-tealium-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Source{
		"tag":  {Type: "tealium", Account: "acme", Profile: "main", UserIDAttribute: "customer_id"},
		"app":  {Type: "tealium", Account: "acme", Profile: "mobile", Datasource: "ab12cd", Key: "zz-tealium-secret", UserIDAttribute: "email_address"},
		"open": {Type: "tealium", Account: "acme", Profile: "open", UserIDAttribute: "customer_id"},
	}
	if !reflect.DeepEqual(c.Sources, want) {
		t.Errorf("Sources = %#v\nwant %#v", c.Sources, want)
	}
	if s := fmt.Sprintf("%v %+v %#v", c.Sources["app"], c.Sources["app"], c.Sources["app"]); strings.Contains(s, "zz-tealium-secret") {
		t.Errorf("the key prints: %s", s)
	}
	// The same datasource-less account/profile twice is refused; a
	// datasource tells two sources of one profile apart.
	twice := data + `  tag2:
    type: tealium
    account: acme
    datasource: ab12cd
  tag3:
    type: tealium
    account: acme
    profile: main
`
	_, err = Parse("t.yaml", []byte(twice), env(map[string]string{"TEALIUM_KEY": "k"}))
	if err == nil || err.Error() != "t.yaml:23:14: sources.tag3.account: same account and profile as sources.tag (line 2): requests could not tell them apart; give one a different profile or datasource" {
		t.Errorf("err = %v", err)
	}
}

// parseNATS parses a file of one segment source and the nats section nats
// (indented by two spaces after its first line).
func parseNATS(t *testing.T, nats string) *Config {
	t.Helper()
	data := "nats:\n  " + nats + "\nsources:\n  web: {type: segment, write_keys: [k]}\n"
	c, err := Parse("f.yaml", []byte(data), nil)
	if err != nil {
		t.Fatalf("%q: %v", nats, err)
	}
	return c
}

// TestDuplicateWindowDefaultsByMode: JetStream's Nats-Msg-Id window is off
// when the server runs inside serve, JetStream's own default on an
// external cluster, and what the file says when it says one (0: off).
func TestDuplicateWindowDefaultsByMode(t *testing.T) {
	for _, tc := range []struct {
		nats string
		want time.Duration
	}{
		{"store_dir: ./data", DefaultDuplicateWindowEmbedded},
		{"url: nats://n1:4222", DefaultDuplicateWindowExternal},
		{"url: nats://n1:4222\n  duplicate_window: 30s", 30 * time.Second},
		{"url: nats://n1:4222\n  duplicate_window: 0s", 0},
	} {
		c := parseNATS(t, tc.nats)
		if c.NATS.DuplicateWindow != tc.want {
			t.Errorf("%q: duplicate_window %v; want %v", tc.nats, c.NATS.DuplicateWindow, tc.want)
		}
	}
}

// TestReadBehindDefaultsByMode: pipelines pace their reads with the
// embedded server, whose blocks serve sizes and whose clock is serve's;
// not with an external one unless the file says so.
func TestReadBehindDefaultsByMode(t *testing.T) {
	for _, tc := range []struct {
		nats string
		want time.Duration
	}{
		{"store_dir: ./data", 500 * time.Millisecond},
		{"store_dir: ./data\n  read_behind: 0s", 0},
		{"store_dir: ./data\n  read_behind: 2s", 2 * time.Second},
		{"url: nats://n1:4222", 0},
		{"url: nats://n1:4222\n  read_behind: 300ms", 300 * time.Millisecond},
	} {
		c := parseNATS(t, tc.nats)
		if c.NATS.ReadBehind != tc.want {
			t.Errorf("%q: read_behind %v; want %v", tc.nats, c.NATS.ReadBehind, tc.want)
		}
	}
}
