package mesh

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/promote-dev/promote/internal/mesh/meshtest"
)

// directCases are specs written to reach every branch of decodeDirect, and
// the edges where it must leave the decision to protojson.
var directCases = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a}
spec:
  host: a
  exportTo: [".", "*"]
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 0x10, connectTimeout: 0.25s, tcpKeepalive: {time: 7200s, interval: 75.000000001s, probes: 1_0}}
      http: {http1MaxPendingRequests: -1, idleTimeout: 1s, h2UpgradePolicy: UPGRADE, useClientProtocol: TRUE}
    outlierDetection: {consecutive5xxErrors: 4294967295, interval: 300s, baseEjectionTime: 0.5s, maxEjectionPercent: 0o17}
    loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 315576000000s}
  subsets:
  - name: v1
    labels: {version: v1, "80": x, 443: y}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b}
spec:
  hosts: [b]
  http:
  - match:
    - uri: {prefix: /a}
      headers: {x: {exact: "1"}}
    fault: {abort: {percentage: {value: 1e-3}, httpStatus: 503}, delay: {percentage: {value: 7}, fixedDelay: 1s}}
    mirrorPercentage: {value: 100.5}
    route:
    - destination: {host: b, port: {number: 9080}}
      weight: 1_00
    retries: {attempts: 3, perTryTimeout: 2s}
    timeout: 10s
  - route: [{destination: {host: b}}]
    corsPolicy: {allowCredentials: false, allowOrigins: [{regex: ".*"}]}
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: c}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match: {context: SIDECAR_INBOUND}
    patch:
      operation: INSERT_BEFORE
      value:
        name: x
        typed_config: {"@type": type, n: 1, f: 1.5, big: 18446744073709551615, b: true, z: null, l: [1, "a", [], {}], t: 2001-12-14, h: 0x1F, "\u00e9": "\u00e9"}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: d}
spec:
  action: DENY
  selector: {matchLabels: &l {app: d}}
  rules:
  - from: [{source: {principals: ["*"], notNamespaces: []}}]
    to: [{operation: {ports: ["80"], methods: [GET]}}]
    when: [{key: "request.auth.claims[iss]", values: ["a"]}]
  - {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: e}
spec:
  selector: {matchLabels: {app: e}}
  mtls: {mode: STRICT}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: f}
spec:
  tracing: [{randomSamplingPercentage: 10.5, disableSpanReporting: false, customTags: {a: {literal: {value: x}}}}]
  accessLogging: [{providers: [{name: envoy}], filter: {expression: "true"}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: g}
spec:
  hosts: [g.example.com]
  ports: [{number: 443, name: https, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
  endpoints: [{address: 1.2.3.4, ports: {https: 8443}, weight: 4294967295}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: h}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: i}
spec:
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
  egress: [{hosts: ["./*"]}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: j}
spec: {address: 1.2.3.4, weight: 0, locality: "\xe9"}
` + directEdges

// directEdges each hold one value decodeDirect leaves to protojson.
var directEdges = strings.Join([]string{
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: 5m}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: -1s}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: 315576000001s}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: .5s}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: 1.s}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: 1.0000000001s}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {interval: 1}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {maxEjectionPercent: 2147483648}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 4294967296}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {consecutive5xxErrors: -1}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {outlierDetection: {consecutive5xxErrors: null}}}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: null}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, exportTo: null}",
	"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {connectionPool: {tcp: {tcp_keepalive: {probes: 1}, tcpKeepalive: {probes: 2}}}}}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{match: [{uri: {exact: a, prefix: b}}]}]}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{mirrorPercentage: {value: .inf}}]}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{mirrorPercentage: {value: 1e400}}]}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{mirrorPercentage: {value: \"5\"}}]}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{retries: {retryOn: null}}]}",
	"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b}\nspec: {hosts: [b], http: [{route: [{weight: 9223372036854775808}]}]}",
	"apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: c}\nspec: {configPatches: [{patch: {value: {inf: -.inf, nan: .nan, huge: 1e400, big: 99999999999999999999}}}]}",
	"apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: e}\nspec: {portLevelMtls: {80: {mode: DISABLE}}}",
	"apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: k}\nspec: {jwtRules: [{issuer: a, forwardOriginalToken: yes}]}",
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d}\nspec: {action: 1}",
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d}\nspec: []",
	"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: d}\nspec: null",
}, "\n---\n") + "\n"

// directInputs are the YAML files TestDirectLikeProtojson and FuzzDirect
// decode both ways: the cases above, the examples, the generated corpus
// and Istio's samples from the module cache when go can find them.
func directInputs(t testing.TB) [][]byte {
	t.Helper()
	inputs := [][]byte{[]byte(directCases), meshtest.Corpus(3)}
	var files []string
	for _, glob := range []string{"../../examples/services/*/mesh/*.yaml", "../../examples/broken/mesh/*.yaml", "testdata/*.yaml"} {
		found, _ := filepath.Glob(glob)
		files = append(files, found...)
	}
	if out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output(); err == nil {
		if samples, err := meshtest.Samples(filepath.Join(strings.TrimSpace(string(out)), "samples"), 1); err == nil {
			for _, f := range samples {
				inputs = append(inputs, f.Data)
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	return inputs
}

// bothWays decodes every Istio spec of data through the encoder's JSON and
// protojson, and directly; where decodeDirect succeeds, protojson must
// accept the spec too and make an equal message. It returns how many specs
// each way decoded.
func bothWays(t *testing.T, data []byte) (viaJSON, direct int) {
	t.Helper()
	set := NewSet("")
	set.Add("in.yaml", data, "")
	for _, r := range set.Resources {
		if r.Istio == nil {
			continue
		}
		e := encoders.Get().(*encoder)
		e.file, e.res = "in.yaml", r
		e.w.Budget, e.w.Report = specBudget, e.duplicate
		spec := r.Spec
		if spec == nil {
			spec = &yaml.Node{Kind: yaml.MappingNode}
		}
		e.reset()
		e.value(spec, 0, r.Istio.new().ProtoReflect().Descriptor(), nil)
		if e.w.TooBig() || e.failed {
			e.release()
			continue
		}
		want := r.Istio.new()
		err := protojson.Unmarshal(e.buf, want)
		e.release()
		got := r.Istio.new()
		ok := decodeDirect(spec, got.ProtoReflect())
		if err == nil {
			viaJSON++
		}
		if !ok {
			continue
		}
		direct++
		if err != nil {
			t.Fatalf("%s: decodeDirect accepted a spec protojson refuses (%v):\n%s", r.Ref(), err, data)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("%s: decodeDirect made\n%v\nprotojson\n%v", r.Ref(), got, want)
		}
	}
	return viaJSON, direct
}

func TestDirectLikeProtojson(t *testing.T) {
	t.Parallel()
	var viaJSON, direct int
	for _, data := range directInputs(t) {
		j, d := bothWays(t, data)
		viaJSON, direct = viaJSON+j, direct+d
	}
	// The shapes real configuration is written in are decoded directly;
	// the cases above keep a few for protojson.
	if direct == 0 || direct < viaJSON*9/10 {
		t.Errorf("decodeDirect decoded %d of the %d specs protojson decodes; want at least 90%%", direct, viaJSON)
	}
}

// FuzzDirect checks decodeDirect against protojson on arbitrary files.
func FuzzDirect(f *testing.F) {
	for _, data := range directInputs(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bothWays(t, data)
	})
}
