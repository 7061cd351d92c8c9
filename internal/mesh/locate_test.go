package mesh_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/promote-dev/promote/internal/mesh"
)

// TestIstioPositions checks where Istio's messages, which carry no
// position, are placed: at the part of the spec each is about.
func TestIstioPositions(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/istio-messages.yaml")
	if err != nil {
		t.Fatal(err)
	}
	set := mesh.NewSet("")
	set.Add("istio.yaml", data, "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerIstio}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range rep.Findings {
		got[f.Message] = fmt.Sprintf("%d:%d", f.Line, f.Col)
	}
	for _, tt := range []struct{ message, at string }{
		{"DENY action without `rules`", "7:11"},                                    // the action
		{"invalid or unsupported path {**}/x/{*}", "24:28"},                        // the path among two
		{"invalid `value` for `key` bogus.key", "28:16"},                           // the key of the second condition
		{`URI scheme "" is not supported`, "41:16"},                                // the second rule's jwksUri
		{"subset name cannot be empty", "53:7"},                                    // the second subset
		{"max connections must be non-negative", "58:25"},                          // the value
		{"virtualService rule #1 not used", "70:7"},                                // the second route
		{"mesh/namespace peer authentication cannot have port level mTLS", "83:3"}, // the map
		{"`provider.name` must not be empty", "97:11"},                             // the CUSTOM action
	} {
		found := false
		for msg, at := range got {
			if strings.Contains(msg, tt.message) {
				found = true
				if at != tt.at {
					t.Errorf("%q at %s, want %s", msg, at, tt.at)
				}
			}
		}
		if !found {
			t.Errorf("no message %q among %v", tt.message, got)
		}
	}
}
