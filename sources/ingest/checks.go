package ingest

import (
	"errors"
	"fmt"
)

// CheckSourceName accepts names that are one NATS subject token: a
// source's events are stored under events.<name>.<type>.
func CheckSourceName(name string) error {
	if name == "" {
		return errors.New("source name is empty")
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == '.' || r == '*' || r == '>' {
			return fmt.Errorf("source name %q must not contain spaces, control characters, '.', '*' or '>'", name)
		}
	}
	return nil
}
