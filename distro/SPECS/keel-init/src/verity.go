package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// veritySB is the part of struct verity_sb the table needs. The superblock is
// not trusted: a lie in it only yields a tree that cannot match the signed
// root hash.
type veritySB struct {
	dataBlockSize, hashBlockSize int
	dataBlocks                   uint64
	salt                         []byte
}

func parseVeritySuperblock(b []byte) (veritySB, error) {
	var sb veritySB
	if len(b) < 512 || !bytes.Equal(b[:8], []byte("verity\x00\x00")) {
		return sb, errors.New("no dm-verity superblock")
	}
	if binary.LittleEndian.Uint32(b[8:]) != 1 || binary.LittleEndian.Uint32(b[12:]) != 1 {
		return sb, errors.New("verity superblock: unsupported version or hash type")
	}
	if string(bytes.TrimRight(b[32:64], "\x00")) != "sha256" {
		return sb, errors.New("verity superblock: algorithm is not sha256")
	}
	sb.dataBlockSize = int(binary.LittleEndian.Uint32(b[64:]))
	sb.hashBlockSize = int(binary.LittleEndian.Uint32(b[68:]))
	sb.dataBlocks = binary.LittleEndian.Uint64(b[72:])
	n := int(binary.LittleEndian.Uint16(b[80:]))
	for _, bs := range []int{sb.dataBlockSize, sb.hashBlockSize} {
		if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
			return sb, fmt.Errorf("verity superblock: bad block size %d", bs)
		}
	}
	if n > 256 || sb.dataBlocks == 0 {
		return sb, errors.New("verity superblock: bad salt size or zero blocks")
	}
	sb.salt = b[88 : 88+n]
	return sb, nil
}
