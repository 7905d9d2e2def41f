package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "zz-raw-secret-zz"
	s := Secret(value)
	holder := struct {
		Token Secret
		List  []Secret
	}{s, []Secret{s}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%10s", "%-8v"} {
		t.Run(verb, func(t *testing.T) {
			for _, got := range []string{fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &holder)} {
				if strings.Contains(got, value) || strings.Contains(got, fmt.Sprintf("%x", value)) {
					t.Errorf("%s printed the secret: %s", verb, got)
				}
			}
		})
	}
	if got := fmt.Sprintf("%v %q", s, s); got != `*** "***"` {
		t.Errorf("%%v %%q = %s", got)
	}
	if got := fmt.Sprint(Secret("")); got != "" {
		t.Errorf("empty secret prints %q", got)
	}

	j, err := json.Marshal(holder)
	if err != nil || string(j) != `{"Token":"***","List":["***"]}` {
		t.Errorf("json = %s, %v", j, err)
	}

	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("loaded", "token", s, "holder", holder)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "token", s)
	if strings.Contains(buf.String(), value) {
		t.Errorf("slog printed the secret: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"token":"***"`) {
		t.Errorf("slog output lacks the masked token: %s", buf.String())
	}
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}
