package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keel-linux/keel/pkg/pgp"
	"github.com/keel-linux/keel/pkg/uki"
)

// sourceDateEpoch is SOURCE_DATE_EPOCH as a time (zero when unset).
func sourceDateEpoch() (int64, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative integer of seconds", s)
	}
	return v, nil
}

func init() {
	keys := &cobra.Command{Use: "keys", Short: "Manage Keel's OpenPGP signing key"}
	var dir, name, email string
	var force bool
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Generate the Ed25519 OpenPGP signing key (kept if it exists)",
		Long: `Generate an Ed25519 OpenPGP key pair that signs packages, repomd.xml and raw
payloads such as a dm-verity root hash. The key directory defaults to
$KEEL_KEYS or ~/.local/share/keel/keys (outside any checkout) and holds
secret.asc (0600), RPM-GPG-KEY-keel (public, for clients) and ed25519.pub
(hex raw public key for crypto/ed25519 verifiers), plus the Secure Boot
signing key for UKIs: secureboot.key (RSA-2048, 0600) and secureboot.crt
(self-signed; enroll it as PK/KEK/db).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = pgp.DefaultDir()
			}
			sde, err := sourceDateEpoch()
			if err != nil {
				return err
			}
			created := time.Now()
			if sde != 0 {
				created = time.Unix(sde, 0)
			}
			k, made, err := pgp.InitDir(dir, name, email, created, force)
			if err != nil {
				return fmt.Errorf("keys init: %w", err)
			}
			// The Secure Boot signing key for UKIs lives beside it.
			sbKey, sbCert, sbMade, err := uki.InitSigningKey(dir, "Keel Linux Secure Boot signing key", created)
			if err != nil {
				return fmt.Errorf("keys init: %w", err)
			}
			info := map[string]any{"dir": dir, "created": made, "fingerprint": k.Fingerprint(),
				"key_id": k.KeyID(), "ed25519_public": hex.EncodeToString(k.Ed25519PublicKey()),
				"secureboot_key": sbKey, "secureboot_cert": sbCert, "secureboot_created": sbMade}
			if globals.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(info)
			}
			verb := "existing"
			if made {
				verb = "new"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s key %s in %s (Secure Boot: %s)\n", verb, k.Fingerprint(), dir, sbCert)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "key directory (default $KEEL_KEYS or ~/.local/share/keel/keys)")
	initCmd.Flags().StringVar(&name, "name", "Keel Linux", "user ID name")
	initCmd.Flags().StringVar(&email, "email", "security@keel-linux.invalid", "user ID e-mail")
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing key")

	var expDir string
	exportCmd := &cobra.Command{
		Use:   "export",
		Short: "Print the public key (RPM-GPG-KEY-keel)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if expDir == "" {
				expDir = pgp.DefaultDir()
			}
			k, err := pgp.LoadDir(expDir)
			if err != nil {
				return fmt.Errorf("keys export: %w", err)
			}
			return k.WritePublic(cmd.OutOrStdout())
		},
	}
	exportCmd.Flags().StringVar(&expDir, "dir", "", "key directory (default $KEEL_KEYS or ~/.local/share/keel/keys)")
	keys.AddCommand(initCmd, exportCmd)
	rootCmd.AddCommand(keys)
}
