package plugins_test

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExample keeps the complete example in README.md identical to
// plugins/examples/filelog/main.go, which the tests build and run.
func TestREADMEExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("examples/filelog/main.go")
	if err != nil {
		t.Fatal(err)
	}
	const start = "<!-- begin examples/filelog/main.go -->\n```go\n"
	const end = "```\n<!-- end examples/filelog/main.go -->"
	text := string(readme)
	i := strings.Index(text, start)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the example between %q and %q", start, end)
	}
	if got := text[i+len(start) : j]; got != string(src) {
		t.Errorf("README.md's example differs from examples/filelog/main.go; copy the file into README.md")
	}
}
