package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/promote-dev/promote/internal/sign"
)

// TestCosignVerifiesRecords hands stored envelopes to cosign, a verifier
// Promote did not write: `cosign verify-blob-attestation` must accept each
// record for the blob it names as a subject, with the exported public key,
// and refuse another blob. make test installs cosign and sets COSIGN.
func TestCosignVerifiesRecords(t *testing.T) {
	t.Parallel()
	cosign := os.Getenv("COSIGN")
	if cosign == "" {
		t.Skip("set COSIGN to a cosign binary; make test does")
	}
	for _, alg := range []string{sign.AlgorithmECDSAP256, sign.AlgorithmEd25519} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dir := t.TempDir()
			signer, _, err := sign.LoadOrCreateLocal(filepath.Join(dir, "key.pem"), alg)
			if err != nil {
				t.Fatal(err)
			}
			pem, err := sign.PublicKeyPEM(signer.Public())
			if err != nil {
				t.Fatal(err)
			}
			pub := filepath.Join(dir, "pub.pem")
			blob := filepath.Join(dir, "plan.json")
			other := filepath.Join(dir, "other.json")
			for path, data := range map[string][]byte{pub: pem, blob: []byte(`{"version":1}`), other: []byte(`{"version":2}`)} {
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sum := sha256.Sum256([]byte(`{"version":1}`))
			rec := spoolRecords(1)[0]
			rec.Subjects = []Subject{{Name: "plan.json", SHA256: hex.EncodeToString(sum[:])}}
			store, err := NewLocalStore(filepath.Join(dir, "store"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Append(ctx, store, signer, []Record{rec}); err != nil {
				t.Fatal(err)
			}
			envelope := filepath.Join(dir, "store", RecordKey(1))

			verify := func(blob string) (string, error) {
				out, err := exec.Command(cosign, "verify-blob-attestation", "--key", pub,
					"--type", KindPromotion.PredicateType(), "--signature", envelope,
					"--insecure-ignore-tlog=true", blob).CombinedOutput()
				return string(out), err
			}
			if out, err := verify(blob); err != nil {
				t.Fatalf("cosign refused the record: %v\n%s", err, out)
			}
			if out, err := verify(other); err == nil {
				t.Errorf("cosign accepted the record for a blob it does not name:\n%s", out)
			}
		})
	}
}
