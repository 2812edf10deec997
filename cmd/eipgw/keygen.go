package main

import (
	"context"
	"fmt"

	"github.com/eipgw/eipgw/gateway/plumbing/evidence"
)

var cmdKeygen = &command{
	name:    "keygen",
	summary: "create a gateway's Ed25519 signing key (private key file mode 0600, public key beside it)",
	usage:   "-out FILE",
	example: `  eipgw keygen -out /var/lib/eipgw/gw-1.key

  Writes the private key (PKCS #8 PEM, mode 0600, never overwritten) to FILE
  and its public key to FILE.pub, and prints the public key and its id. Set
  edge.evidence.key_file to FILE and list the public key under
  ingest.evidence.keys.<gateway>. Run it as the service's user.`,
	run: func(ctx context.Context, c *command, e *env, args []string) error {
		fs := c.flags(e)
		out := fs.String("out", "", "private key file to create (its public key goes to FILE.pub)")
		if err := c.parse(e, fs, args); err != nil {
			return err
		}
		if *out == "" || fs.NArg() != 0 {
			return fmt.Errorf("-out FILE is required: %w", errUsage)
		}
		pub, err := evidence.Generate(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "private key: %s\npublic key:  %s\nkey id:      %s\n", *out, evidence.EncodePublicKey(pub), evidence.KeyID(pub))
		return nil
	},
}
