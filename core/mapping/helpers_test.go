package mapping

import (
	"encoding/json"
	"reflect"
	"testing"
)

// assertEqual compares values, printing both as JSON when they differ.
func assertEqual(t testing.TB, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("got  %s (%#v)\nwant %s (%#v)", g, got, w, want)
	}
}
