package mesh_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pkg/util/protomarshal"

	"github.com/promote-dev/promote/internal/mesh"
)

// checkDoc checks one file's text with the layers istioctl validate has.
func checkDoc(t *testing.T, file, doc string) string {
	t.Helper()
	set := mesh.NewSet("")
	set.Add(file, []byte(doc), "")
	rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema, mesh.LayerIstio}})
	if err != nil {
		t.Fatal(err)
	}
	return lines(rep)
}

// TestDurations checks durations as Istio reads them: Go durations pass the
// decoding, anything else is reported where it is with the forms that
// work, and what Istio's rules refuse of a decoded duration stays theirs.
func TestDurations(t *testing.T) {
	t.Parallel()
	const forms = "a duration is a number and a unit (ns, us, ms, s, m, h), such as 30ms, 5m or 1h30m"
	for _, tc := range []struct {
		what, value, want string
	}{
		{what: "milliseconds", value: "30ms"},
		{what: "hours and minutes", value: "1h30m"},
		{what: "seconds with a fraction", value: "1.5s"},
		{what: "microseconds", value: "1000us"},
		{what: "quoted", value: `"5m"`},
		{what: "null", value: "null"},
		{what: "words", value: `5 minutes`,
			want: `d.yaml:8:29: error: spec.trafficPolicy.connectionPool.tcp.connectTimeout: "5 minutes" is not a duration; ` + forms + " [schema.type]\n"},
		{what: "no unit", value: "10",
			want: "d.yaml:8:29: error: spec.trafficPolicy.connectionPool.tcp.connectTimeout: expected a duration, got the integer 10 without a unit; " + forms + " [schema.type]\n"},
		{what: "days", value: "1d",
			want: `d.yaml:8:29: error: spec.trafficPolicy.connectionPool.tcp.connectTimeout: "1d" is not a duration; ` + forms + " [schema.type]\n"},
		{what: "protobuf's message form", value: "{seconds: 5}",
			want: "d.yaml:8:29: error: spec.trafficPolicy.connectionPool.tcp.connectTimeout: expected a duration, got a mapping; " + forms + " [schema.type]\n"},
		// Decoded, then refused by Istio's rule for connectTimeout.
		{what: "negative", value: "-1s",
			want: "d.yaml:8:13: error: duration must be greater than 1ms [istio.invalid]\n"},
		{what: "finer than a millisecond", value: "1.0001s",
			want: "d.yaml:8:13: error: only durations to ms precision are supported [istio.invalid]\n"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			t.Parallel()
			doc := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {connectTimeout: %s}
`, tc.value)
			if diff := cmp.Diff(tc.want, checkDoc(t, "d.yaml", doc)); diff != "" {
				t.Errorf("connectTimeout: %s: findings (-want +got):\n%s", tc.value, diff)
			}
		})
	}
}

// TestEveryBadValue checks that one run reports every bad duration, map
// key, value of the wrong shape and integer out of range of a resource,
// however many there are.
func TestEveryBadValue(t *testing.T) {
	t.Parallel()
	const n = 40
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  subsets:\n")
	for i := range n {
		fmt.Fprintf(&b, "    - name: s%d\n      labels: {v: s%d}\n      trafficPolicy:\n        outlierDetection: {interval: %d minutes}\n", i, i, i+1)
	}
	b.WriteString("---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: p}\nspec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n")
	for i := range n {
		fmt.Fprintf(&b, "    port%d: {mode: STRICT}\n", i)
	}
	b.WriteString("---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [reviews]\n  http:\n")
	for range n {
		b.WriteString("    - route: reviews\n      retries: {attempts: 99999999999}\n")
	}
	got := checkDoc(t, "many.yaml", b.String())
	if c := strings.Count(got, "expected a list"); c != n {
		t.Errorf("%d values of the wrong shape reported, want %d:\n%s", c, n, got)
	}
	if c := strings.Count(got, "out of range"); c != n {
		t.Errorf("%d integers out of range reported, want %d:\n%s", c, n, got)
	}
	if c := strings.Count(got, "is not a duration"); c != n {
		t.Errorf("%d bad durations reported, want %d:\n%s", c, n, got)
	}
	if c := strings.Count(got, "is not an integer"); c != n {
		t.Errorf("%d bad keys reported, want %d:\n%s", c, n, got)
	}
}

// TestMapKeys checks integer map keys: quoted or bare, a JSON object key is
// a string, and only a decimal integer in range is one.
func TestMapKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, want string }{
		{key: `"8443"`},
		{key: `'8443'`},
		{key: `8443`},
		{key: `0x50`}, // bare numbers are keys in decimal, as kubectl sends them
		{key: `80.0`},
		{key: `abc`, want: `k.yaml:6:19: error: spec.portLevelMtls: the key "abc" is not an integer; the keys of this map are decimal integers from 0 to 4294967295, such as 8443 [schema.type]` + "\n"},
		{key: `"4294967296"`, want: `k.yaml:6:19: error: spec.portLevelMtls: the key "4294967296" is not an integer; the keys of this map are decimal integers from 0 to 4294967295, such as 8443 [schema.type]` + "\n"},
		{key: `"080"`, want: `k.yaml:6:19: error: spec.portLevelMtls: the key "080" is not an integer; the keys of this map are decimal integers from 0 to 4294967295, such as 8443 [schema.type]` + "\n"},
	} {
		doc := fmt.Sprintf(`apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: p}
spec:
  selector: {matchLabels: {app: a}}
  portLevelMtls: {%s: {mode: STRICT}}
`, tc.key)
		if diff := cmp.Diff(tc.want, checkDoc(t, "k.yaml", doc)); diff != "" {
			t.Errorf("key %s: findings (-want +got):\n%s", tc.key, diff)
		}
	}
}

// FuzzDuration compares Promote's reading of a duration with the decoder
// istioctl validate and Istio's webhook use (protomarshal.ApplyJSONStrict,
// the legacy jsonpb): the same strings pass, into the same duration.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"30ms", "5m", "1h30m", "1.5s", "5 minutes", "-1s", "0", "", "+.5s", "2562048h", "5µs", "1d", " 5s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		v = strings.ToValidUTF8(v, "\uFFFD") // as json.Marshal writes it
		js, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var want networking.DestinationRule
		istioErr := protomarshal.ApplyJSONStrict(fmt.Sprintf(`{"host": "r", "trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": %s}}}}`, js), &want)

		set := mesh.NewSet("")
		set.Add("d.yaml", fmt.Appendf(nil, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  host: r\n  trafficPolicy: {connectionPool: {tcp: {idleTimeout: %s}}}\n", yamlQuote(v)), "")
		rep, err := mesh.Check(context.Background(), set, mesh.Options{Checks: []mesh.Layer{mesh.LayerSchema}})
		if err != nil {
			t.Fatal(err)
		}
		if len(set.Resources) != 1 {
			t.Fatalf("%s: read %d resources, findings %v", js, len(set.Resources), rep.Findings)
		}
		switch got := set.Resources[0].Message; {
		case istioErr == nil && got == nil:
			t.Errorf("%s: Istio reads %v, Promote refuses it: %v", js, want.GetTrafficPolicy().GetConnectionPool().GetTcp().GetIdleTimeout(), rep.Findings)
		case istioErr != nil && got != nil:
			t.Errorf("%s: Istio refuses it (%v), Promote reads %v", js, istioErr, got)
		case got != nil && !proto.Equal(got, &want):
			t.Errorf("%s: Promote reads %v, Istio %v", js, got, &want)
		}
	})
}

// yamlQuote writes s as a YAML double-quoted string, escaping all but
// printable ASCII: YAML refuses control characters even inside quotes.
func yamlQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
