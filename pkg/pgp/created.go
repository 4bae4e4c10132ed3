package pgp

import "time"

// Created is the primary key's creation time. Signatures must not predate
// it, so reproducible signers use max(SOURCE_DATE_EPOCH, Created()).
func (k *Key) Created() time.Time { return k.priv().CreationTime }
