package main

import (
	"bytes"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/distro"
	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/uki"
)

// keysFlag defines --keys DIR on cmd (the one spelling of the key directory).
func keysFlag(cmd *cobra.Command, p *string, what string) {
	cmd.Flags().StringVar(p, "keys", "", "key directory "+what+" (default: $KEEL_KEYS or ~/.local/share/keel/keys)")
}

func newKeysCmd(a *app) *cobra.Command {
	return group("keys", "Manage the OpenPGP and Secure Boot signing keys", `The key directory holds the distribution's Ed25519 OpenPGP signing key
(packages, repomd.xml, release manifests, dm-verity root hashes) and the
Secure Boot pair that signs UKIs. It defaults to $KEEL_KEYS or
~/.local/share/keel/keys: outside any checkout, so secrets are never
committed.`, newKeysInitCmd(a), newKeysExportCmd(a))
}

func newKeysInitCmd(a *app) *cobra.Command {
	var dir, name, email string
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Generate the Ed25519 OpenPGP signing key and the Secure Boot pair (kept if they exist)",
		Long: `Generate an Ed25519 OpenPGP key pair that signs packages, repomd.xml and raw
payloads such as a dm-verity root hash. The key directory holds secret.asc
(0600), the public key for clients (` + pgp.PublicFile + `) and ed25519.pub
(hex raw public key for crypto/ed25519 verifiers), plus the Secure Boot
signing key for UKIs: secureboot.key (RSA-2048, 0600) and secureboot.crt
(self-signed; enroll it as PK/KEK/db). The user ID defaults to the
distribution's pretty_name and security@<home_url host> from keel.yaml.
SOURCE_DATE_EPOCH, when set, is the keys' creation time.`,
		Example: `  keel keys init
  keel keys init --keys /srv/keel/keys --name "Acme Linux" --email sec@acme.example`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys := distro.KeysAt(dir)
			created, err := distro.Now()
			if err != nil {
				return err
			}
			var pub distro.Publisher
			if name == "" || email == "" {
				d, err := a.distro()
				if err != nil {
					return err
				}
				pub = d.Publisher()
			}
			if name == "" {
				name = pub.Name
			}
			if email == "" {
				email = pub.Email
			}
			k, made, err := pgp.InitDir(keys.Dir, name, email, created, force)
			if err != nil {
				return fmt.Errorf("keys init: %w", err)
			}
			sbKey, sbCert, sbMade, err := uki.InitSigningKey(keys.Dir, name+" Secure Boot signing key", created)
			if err != nil {
				return fmt.Errorf("keys init: %w", err)
			}
			if a.json {
				return emit(cmd.OutOrStdout(), map[string]any{"dir": keys.Dir, "created": made, "fingerprint": k.Fingerprint(),
					"key_id": k.KeyID(), "ed25519_public": hex.EncodeToString(k.Ed25519PublicKey()),
					"secureboot_key": sbKey, "secureboot_cert": sbCert, "secureboot_created": sbMade})
			}
			verb := "existing"
			if made {
				verb = "new"
			}
			a.sayf(cmd.OutOrStdout(), "%s key %s in %s (Secure Boot: %s)\n", verb, k.Fingerprint(), keys.Dir, sbCert)
			return nil
		},
	}
	keysFlag(cmd, &dir, "to write")
	deprecatedAlias(cmd, cmd.Flags(), "dir", "", "keys")
	cmd.Flags().StringVar(&name, "name", "", "user ID name (default: keel.yaml's pretty_name)")
	cmd.Flags().StringVar(&email, "email", "", "user ID e-mail (default: security@<keel.yaml home_url host>)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing key")
	return cmd
}

func newKeysExportCmd(a *app) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Print the public OpenPGP key (" + pgp.PublicFile + ")",
		Long:    "Print the ASCII-armoured public half of the signing key, the file dnf clients import (gpgkey=).",
		Example: "  keel keys export > " + pgp.PublicFile,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := distro.KeysAt(dir).Signing()
			if err != nil {
				return fmt.Errorf("keys export: %w", err)
			}
			if a.json {
				var pub bytes.Buffer
				if err := k.WritePublic(&pub); err != nil {
					return err
				}
				return emit(cmd.OutOrStdout(), map[string]string{"fingerprint": k.Fingerprint(), "public_key": pub.String()})
			}
			return k.WritePublic(cmd.OutOrStdout())
		},
	}
	keysFlag(cmd, &dir, "to read")
	deprecatedAlias(cmd, cmd.Flags(), "dir", "", "keys")
	return cmd
}
