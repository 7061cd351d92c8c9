package sign_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/promote-dev/promote/internal/sign"
)

func ExampleLoadOrCreateLocal() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "promote-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	signer, created, err := sign.LoadOrCreateLocal(filepath.Join(dir, "evidence.key"), sign.AlgorithmECDSAP256)
	if err != nil {
		log.Fatal(err)
	}
	// A DSSE pre-authentication encoding: what evidence records sign.
	pae := []byte(`DSSEv1 28 application/vnd.in-toto+json 2 {}`)
	sigs, err := signer.Sign(ctx, [][]byte{pae})
	if err != nil {
		log.Fatal(err)
	}
	// A verifier needs only the public keys, looked up by the key id that
	// the envelope's signature carries.
	keys, err := signer.PublicKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", created)
	fmt.Println("verified:", sign.Verify(keys[signer.KeyID()], pae, sigs[0]) == nil)
	fmt.Println("tampered:", sign.Verify(keys[signer.KeyID()], append(pae, ' '), sigs[0]))
	// Output:
	// created: true
	// verified: true
	// tampered: ecdsa-p256 signature does not match the message: invalid signature
}
