package main

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/keel-linux/keel/pkg/atomicfile"
	"github.com/keel-linux/keel/pkg/verity"
	"github.com/spf13/cobra"
)

func newVerityCmd(a *app) *cobra.Command {
	return group("verity", "dm-verity hash trees", "Write dm-verity hash devices, as veritysetup does, without a kernel or root.", newVerityFormatCmd(a))
}

func newVerityFormatCmd(a *app) *cobra.Command {
	var saltHex, uuidStr string
	var blockSize int
	format := &cobra.Command{
		Use:   "format DATA HASH",
		Short: "Write the dm-verity hash device for DATA (as veritysetup format does) and print the root hash",
		Long: `Write the dm-verity hash tree of the file DATA to HASH (superblock
included, atomically) and print the root hash, byte for byte what
veritysetup format writes with the same salt, UUID and block size.`,
		Example: "  keel verity format root.img root.verity --salt $(printf '%064d' 0)",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			salt, err := hex.DecodeString(saltHex)
			if err != nil {
				return usageError{fmt.Errorf("--salt %q: want hex digits", saltHex)}
			}
			var uuid [16]byte
			if uuidStr != "" {
				u, err := hex.DecodeString(stripDashes(uuidStr))
				if err != nil || len(u) != 16 {
					return usageError{fmt.Errorf("--uuid %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", uuidStr)}
				}
				copy(uuid[:], u)
			}
			data, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer data.Close()
			fi, err := data.Stat()
			if err != nil {
				return err
			}
			// The hash device appears whole or not at all.
			var p verity.Params
			err = atomicfile.Write(args[1], 0o600, func(f *os.File) error {
				var err error
				p, err = verity.Format(cmd.Context(), data, fi.Size(), f, verity.Options{Salt: salt, UUID: uuid, BlockSize: blockSize})
				return err
			})
			if err != nil {
				return fmt.Errorf("verity format %s: %w", args[0], err)
			}
			if a.json {
				return emit(cmd.OutOrStdout(), map[string]any{"root_hash": p.RootHash.String(),
					"data_blocks": p.DataBlocks, "hash_size": p.HashSize, "salt": hex.EncodeToString(p.Salt)})
			}
			fmt.Fprintln(cmd.OutOrStdout(), p.RootHash)
			return nil
		},
	}
	f := format.Flags()
	f.StringVar(&saltHex, "salt", "", "salt in hex (reproducible builds fix it; empty: no salt)")
	f.StringVar(&uuidStr, "uuid", "", "superblock UUID")
	intFlagP(f, &blockSize, "block-size", "", 4096, 512, 1<<20, "data and hash block size in bytes (a power of two)")
	return format
}

func stripDashes(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			out = append(out, s[i])
		}
	}
	return string(out)
}
